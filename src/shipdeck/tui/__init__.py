"""The Textual console. Textual is imported only when the console starts (never by other packages)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipdeck.config.console_options import ConsoleOptions


def run_console(options: ConsoleOptions) -> int:
    """Run the console full screen until the user quits; the exit code.

    A profile the console cannot connect with (an unsupported provider, a bad URL) is one line on stderr
    and the error's exit code, never a traceback.
    """
    from shipdeck.api.errors import ShipdeckError
    from shipdeck.tui.app import make_app

    try:
        app = make_app(options)
    except ShipdeckError as exc:
        print(f"shipdeck: {exc}", file=sys.stderr)
        return exc.exit_code
    result = app.run()
    if app.return_code not in (None, 0):
        return int(app.return_code or 1)
    return int(result or 0)
