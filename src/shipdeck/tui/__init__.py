"""The Textual console. Textual is imported only when the console starts (never by other packages)."""

from __future__ import annotations

import contextlib
import os
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
        # The terminal's colour support picks the 16-colour theme when no theme is configured.
        app = make_app(options, terminal_env=os.environ)
    except ShipdeckError as exc:
        print(f"shipdeck: {exc}", file=sys.stderr)
        return exc.exit_code
    result = app.run()
    if app.cut_off:
        with contextlib.suppress(OSError):  # after a hangup the terminal may be gone
            print(
                f"shipdeck: {len(app.cut_off)} change(s) had no known outcome when the console stopped; "
                "recorded as unknown in the audit log, and asking for the same change again (console or "
                "CLI) resends it with the same idempotency key:",
                file=sys.stderr,
            )
            for line in app.cut_off:
                print(f"  {line}", file=sys.stderr)
    if app.return_code not in (None, 0):
        return int(app.return_code or 1)
    return int(result or 0)
