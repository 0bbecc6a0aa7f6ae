"""Command line entry point: the console, `demo`, `sim`, and the scriptable commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "sim":
        from shipdeck.sim.cli import main as sim_main

        return sim_main(args[1:])
    from shipdeck.cli.app import run

    return run(args)
