#!/usr/bin/env python
"""Actions: rollback key-confirm -> request on the wire, and a new active version on screen after the
server's event. The console talks to the simulator through a wiretap (its own process) that timestamps
each request line and each SSE event frame as they cross the wire.

Each round:
1. the console rolls back the highlighted deployment: 'r', then 'y' in the dialog; measured from the 'y'
   to the POST .../rollback passing the wiretap (target < 50 ms);
2. another client (this script, straight to the simulator) promotes the version the console rolled back
   from; measured from the server's event passing the wiretap to the first frame whose deployments table
   shows that version active (target < 250 ms).
Medians over the rounds (p95 printed too).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    ADMIN_TOKEN,
    SCREEN_SIZE,
    FrameProbe,
    Result,
    bench_arguments,
    console_options,
    finish,
    isolate_user_dirs,
    latency_target,
    median,
    ms,
    percentile,
    send_key,
    simulator,
    wait_until,
)
from wiretap import wiretap  # noqa: E402

WIRE_TARGET = latency_target(0.050)
SCREEN_TARGET = latency_target(0.250)


async def run(rounds: int) -> list[Result]:
    import httpx

    from shipdeck.tui.app import make_app
    from shipdeck.tui.screens.dialogs import ConfirmDialog

    home = isolate_user_dirs()
    to_wire: list[float] = []
    to_screen: list[float] = []
    with simulator("demo", args=["--rate-limit", "100000"]) as server, wiretap(server.port) as tap:
        options = console_options(server, home, miosa_url=tap.url(server.miosa))
        app = make_app(options)
        direct = httpx.AsyncClient(
            base_url=server.miosa, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            probe = FrameProbe(app)
            await wait_until(lambda: app.main_screen is not None, timeout=30, what="the main screen")
            main = app.main_screen
            assert main is not None
            table = main.table

            def detail_loaded() -> bool:
                current = table.highlighted
                detail = app.live.detail
                return current is not None and detail is not None and detail.deployment_id == current.id

            await wait_until(detail_loaded, timeout=30, what="the detail of the first deployment")
            target = table.highlighted
            assert target is not None
            shown: list[tuple[float, str | None]] = []
            original_render = table.render_lines

            def render_lines(crop: Any) -> Any:
                row = table._rows.get(target.id)
                shown.append((time.monotonic(), row.active_version_id if row else None))
                return original_render(crop)

            table.render_lines = render_lines  # type: ignore[method-assign]
            print(f"actions: {rounds} rounds on {target.name}")
            for round_number in range(rounds):
                await wait_until(detail_loaded, timeout=30, what="the detail")
                before = table.highlighted
                assert before is not None and before.active_version_id is not None
                await pilot.press("r")
                await wait_until(
                    lambda: isinstance(app.screen, ConfirmDialog), timeout=10, what="the confirm dialog"
                )
                await pilot.pause(0.1)
                # The key the dialog asks for: enter when it has a reason field (a 'y' there is text).
                dialog = app.screen
                confirm_key = (
                    "enter" if isinstance(dialog, ConfirmDialog) and dialog.request.ask_reason else "y"
                )
                pressed = time.monotonic()
                send_key(app, confirm_key)
                await wait_until(
                    lambda pressed=pressed: any(
                        at >= pressed and path.endswith("/rollback") for at, _, path in tap.requests
                    ),
                    timeout=10,
                    what="the rollback on the wire",
                )
                sent = min(at for at, _, path in tap.requests if at >= pressed and path.endswith("/rollback"))
                to_wire.append(sent - pressed)
                await wait_until(
                    lambda old=before.active_version_id: (
                        (row := table._rows.get(target.id)) is not None and row.active_version_id != old
                    ),
                    timeout=10,
                    what="the rolled-back version in the table",
                )
                await pilot.pause(0.5)

                # Someone else puts the version back; the console learns it from the event stream.
                asked = time.monotonic()
                answer = await direct.post(
                    f"/deployments/{target.id}/versions/{before.active_version_id}/promote", json={}
                )
                answer.raise_for_status()
                await wait_until(
                    lambda asked=asked: any(at >= asked for at, _ in tap.events),
                    timeout=10,
                    what="the server's event",
                )
                event_at = min(at for at, _ in tap.events if at >= asked)
                await wait_until(
                    lambda since=event_at, wanted=before.active_version_id: any(
                        at >= since and v == wanted for at, v in shown
                    ),
                    timeout=10,
                    what="the promoted version on screen",
                )
                rendered = min(at for at, v in shown if at >= event_at and v == before.active_version_id)
                frame = await probe.first_frame_after(rendered)
                to_screen.append(frame - event_at)
                print(
                    f"  round {round_number + 1}: confirm -> wire {ms(to_wire[-1])}, "
                    f"event -> screen {ms(to_screen[-1])}"
                )
                await pilot.pause(0.5)
        await direct.aclose()

    wire, screen = median(to_wire), median(to_screen)
    print(
        f"actions: confirm -> wire median {ms(wire)} (p95 {ms(percentile(to_wire, 0.95))}); "
        f"event -> screen median {ms(screen)} (p95 {ms(percentile(to_screen, 0.95))})"
    )
    return [
        Result(
            "actions: rollback confirm -> request on the wire",
            f"< {WIRE_TARGET * 1000:.0f} ms",
            f"{ms(wire)} (median of {len(to_wire)})",
            wire < WIRE_TARGET,
        ),
        Result(
            "actions: server's event -> new active version on screen",
            f"< {SCREEN_TARGET * 1000:.0f} ms",
            f"{ms(screen)} (median of {len(to_screen)})",
            screen < SCREEN_TARGET,
        ),
    ]


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--rounds", type=int, default=9, help="rollback + promote rounds (default 9)")
    args = parser.parse_args()
    return finish(asyncio.run(run(args.rounds)), args.json)


if __name__ == "__main__":
    sys.exit(main())
