"""A big account's load costs its pages and the watched row's detail, nothing more: no detail reload at
the end of the load under a user who pressed nothing, and no background version-number reads beyond the
rows on screen (bounds on requests, from the sandbox's own log; nothing here is timed)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from shipdeck.live.state import ConnectionState
from tests.live.test_live_state import eventually, running_live
from tests.simproc import SimServer, running_sim

COUNT = 2_000
PAGE = 200


@pytest.fixture(scope="module")
def scale_sim() -> Iterator[SimServer]:
    with running_sim(["--rate-limit", "100000"], seed=f"scale:{COUNT}") as server:
        yield server


def kinds(rows: list[dict[str, object]], since: int) -> Counter[str]:
    """'pages', or the last path segment of a deployment's sub-resource ('versions', 'env', ...)."""
    counted: Counter[str] = Counter()
    for row in rows:
        if int(str(row["seq"])) <= since or row["method"] != "GET":
            continue
        segments = str(row["path"]).split("/")
        if "deployments" not in segments:
            continue
        tail = segments[segments.index("deployments") + 1 :]
        counted["pages" if not tail else "reread" if len(tail) == 1 else tail[1]] += 1
        if len(tail) == 2 and tail[1] == "versions":
            counted[f"versions of {tail[0]}"] += 1
    return counted


async def test_a_load_reads_its_pages_the_watched_detail_once_and_only_the_shown_rows_versions(
    scale_sim: SimServer,
) -> None:
    before = scale_sim.requests()
    since = int(str(before[-1]["seq"])) if before else 0
    async with running_live(scale_sim, page_size=PAGE) as (live, _):
        # The user's row appears with the first page; the screen watches it at once, as the console does.
        await eventually(lambda: live.deployments)
        watched = next(iter(live.deployments))
        live.watch(watched)
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        await live.detail_for(watched)
        # Three other rows are on screen: without health reads, their version numbers are looked up.
        shown = [dep_id for dep_id in live.deployments if dep_id != watched][:3]
        live.show(shown)
        await eventually(lambda: all(live.deployments[i].active_version_number for i in shown))
        await asyncio.to_thread(scale_sim.requests)  # (a read of our own: the log has what came before)
        counted = kinds(await asyncio.to_thread(scale_sim.requests), since)
        assert live.watched == watched and live.detail is not None
        assert live.detail.deployment_id == watched
    assert counted["pages"] == COUNT // PAGE
    # The detail was read once (its env read is the detail's alone), not again when the load ended.
    assert counted["env"] == 1
    # Versions: the detail's own read and the three rows on screen, once each; none of the other 1,996.
    read_versions = {key.removeprefix("versions of ") for key in counted if key.startswith("versions of ")}
    assert read_versions == {watched, *shown}
    assert all(counted[f"versions of {dep_id}"] == 1 for dep_id in shown)
    # The watched row's versions were read once: its pipeline runs are made of the versions just read.
    assert counted[f"versions of {watched}"] == 1
    assert counted["reread"] == 0
