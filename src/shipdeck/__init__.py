"""shipdeck: a terminal console for deployment control planes."""

__version__ = "0.1.0"
