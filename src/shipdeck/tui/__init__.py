"""The Textual console. Textual is imported only when the console starts (never by other packages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipdeck.config.console_options import ConsoleOptions


def run_console(options: ConsoleOptions) -> int:
    """Run the console full screen until the user quits; the exit code."""
    from shipdeck.tui.app import make_app

    app = make_app(options)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code or 1)
