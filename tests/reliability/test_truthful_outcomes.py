"""What shipdeck says about a change is what the server did, even when the server's answer lies or is odd.

A relay in front of a real `shipdeck sim` forwards every request (the Idempotency-Key too) and, for the
change request a test picks, replaces the sim's real answer with a broken one *after* the sim applied it:
an answer of the wrong shape, a redirect, the body of another deployment. The sim's own database and
request log say what really happened. Also: a re-run after an unknown outcome when the deployment has moved
on since, a replay whose effect was undone since, a publish read back among a colleague's versions, and a
change another shipdeck process is sending at the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.api.base import Adapter
from shipdeck.api.factory import make_adapter
from shipdeck.config.audit import read_audit
from shipdeck.config.open_changes import OpenChange, OpenChanges
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.plans import plan_env_set, plan_publish, rollback_identity
from shipdeck.live.session import ChangeSession
from shipdeck.model import Deployment, EnvVar, PublishRequest, Version
from tests.api.hostile import SeenRequest, Writer, response
from tests.cli.helpers import Result, shipdeck
from tests.conftest import ADMIN
from tests.reliability.hostile_kit import threaded
from tests.reliability.proxy import FaultProxy, fault_proxy
from tests.reliability.test_exactly_once import (
    deployment,
    number_of,
    one_step_back,
    rolled_back_events,
    versions,
)
from tests.simproc import SimServer, running_sim

TARGET = "status-page"  # two ready versions behind its active one in the demo seed
HEADERS = {"Authorization": f"Bearer {ADMIN}"}
MIXPEEK_TOKEN = "sk_demo"
FORWARDED = ("authorization", "idempotency-key", "content-type")

# (request, the sim's real answer) -> the bytes to answer instead, or None to pass the real answer on.
Spoil = Callable[[SeenRequest, httpx.Response], bytes | None]


@pytest.fixture
def own_sim(tmp_path: Path) -> Iterator[SimServer]:
    with running_sim(db_path=tmp_path / "sim.db", speed=50.0) as server:
        yield server


@pytest.fixture(autouse=True)
def _tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    monkeypatch.setenv("MIXPEEK_API_KEY", MIXPEEK_TOKEN)


@contextlib.asynccontextmanager
async def session_through_a_proxy(
    own_sim: SimServer, tmp_path: Path
) -> AsyncIterator[tuple[FaultProxy, Adapter, ChangeSession, Deployment]]:
    """A change session of a Miosa profile whose link goes through a fault proxy; the target deployment."""
    from tests.tui.screen_host import make_session

    with fault_proxy(own_sim.port) as link:
        profile = Profile("t", "miosa", link.url(own_sim.miosa), Secret(ADMIN), environment="sandbox")
        adapter = make_adapter(profile, timeout=2.0, deadline=2.0)
        try:
            session = make_session(adapter, tmp_path / "audit.jsonl", profile)
            yield link, adapter, session, await adapter.resolve_deployment(TARGET)
        finally:
            await adapter.aclose()


def relay(sim: SimServer, spoil: Spoil) -> Callable[[SeenRequest, Writer], Awaitable[None]]:
    """Every request goes to the sim as it came; ``spoil`` may replace the answer the client gets."""

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if request.path.split("?")[0].endswith("/stream"):
            writer.write(response(503, b'{"error": {"message": "no streams here"}}', {"Retry-After": "1"}))
            return
        headers = {k: v for k, v in request.headers.items() if k in FORWARDED}
        async with httpx.AsyncClient() as client:
            real = await client.request(
                request.method, sim.root + request.path, headers=headers, content=request.body
            )
        spoiled = spoil(request, real)
        if spoiled is not None:
            writer.write(spoiled)
            return
        passed = {
            k: v for k, v in real.headers.items() if k.lower() in ("x-request-id", "idempotency-replayed")
        }
        writer.write(response(real.status_code, real.content, passed))

    return handler


def first_rollback(answer: bytes) -> Spoil:
    """The first rollback request gets ``answer`` instead of the sim's (the sim applied it)."""
    spent: list[bool] = []

    def spoil(request: SeenRequest, real: httpx.Response) -> bytes | None:
        if request.method == "POST" and request.path.endswith("/rollback") and not spent:
            spent.append(True)
            return answer
        return None

    return spoil


def against(capsys: pytest.CaptureFixture[str], url: str, *command: str) -> Result:
    return shipdeck(capsys, "--provider", "miosa", "--url", url, "--timeout", "4", *command)


def audit(action: str) -> list[dict[str, Any]]:
    return [r for r in read_audit() if isinstance(r, dict) and r.get("action") == action]


def other_deployment_body(sim: SimServer) -> bytes:
    rows = httpx.get(sim.miosa + "/deployments?limit=200", headers=HEADERS, timeout=10).json()["data"]
    other = next(d for d in rows if d["name"] != TARGET)
    return json.dumps({"data": other}).encode()


@pytest.mark.parametrize(
    "answer",
    [
        response(200, b'{"ok": true}'),
        response(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}),
    ],
    ids=["2xx of the wrong shape", "redirect"],
)
def test_an_odd_answer_to_an_applied_rollback_is_never_not_applied_and_is_read_back(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer, answer: bytes
) -> None:
    """The server applied the rollback and answered oddly: before, "not applied: nothing reached the
    server", and a re-run rolled back a second step. Now the outcome is unknown, settled by reading back."""
    before = number_of(own_sim, deployment(own_sim, TARGET))
    with threaded(relay(own_sim, first_rollback(answer))) as server:
        result = against(capsys, server.url + "/api/v1", "rollback", TARGET, "--yes")
    assert result.code == 0, result
    assert "not applied" not in result.err, result.err
    assert "reading the server back shows it was applied, once" in result.err, result.err
    assert number_of(own_sim, deployment(own_sim, TARGET)) == before - 1
    assert rolled_back_events(own_sim) == 1
    phases = [(r["phase"], r.get("outcome")) for r in audit("rollback")]
    assert phases == [("intent", None), ("outcome", "unknown"), ("reconciled", "applied")], phases
    assert OpenChanges().all() == []


def test_a_2xx_with_another_deployments_body_is_not_reported_as_done(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """The server took the request and answered with another deployment: shipdeck does not claim the
    rollback from that answer; it reads the deployment back (here the sim did roll back)."""
    lie = response(200, other_deployment_body(own_sim))
    before = number_of(own_sim, deployment(own_sim, TARGET))
    with threaded(relay(own_sim, first_rollback(lie))) as server:
        result = against(capsys, server.url + "/api/v1", "rollback", TARGET, "--yes")
    assert result.code == 0, result
    assert "reading the server back shows it was applied" in result.err, result.err
    assert number_of(own_sim, deployment(own_sim, TARGET)) == before - 1
    assert rolled_back_events(own_sim) == 1


def test_a_2xx_that_shows_nothing_changed_is_unknown_when_the_server_did_not_change(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """A server that answers 200 with the deployment unchanged, and never changes it: not "rolled back"."""
    dep = deployment(own_sim, TARGET)
    unchanged = response(200, json.dumps({"data": dep}).encode())

    def never_apply(request: SeenRequest, real: httpx.Response) -> bytes | None:
        return None

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if request.method == "POST" and request.path.endswith("/rollback"):
            writer.write(unchanged)  # never forwarded: nothing changes
            return
        await relay(own_sim, never_apply)(request, writer)

    with threaded(handler) as server:
        result = against(capsys, server.url + "/api/v1", "rollback", TARGET, "--yes")
    assert result.code == 6, result
    assert "rolled back" not in result.out
    assert f"answer shows v{number_of(own_sim, dep)} active, not v" in result.err, result.err
    assert rolled_back_events(own_sim) == 0


def lose_then(link: FaultProxy, own_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> tuple[str, int]:
    """A rollback whose answer is lost (applied on the server); the link back up. (url, from number)."""
    url = link.url(own_sim.miosa)
    before = number_of(own_sim, deployment(own_sim, TARGET))
    link.lose_answer_to(lambda h: h.method == "POST" and h.path.endswith("/rollback"), then_down=True)
    first = against(capsys, url, "rollback", TARGET, "--yes")
    assert first.code == 6, first
    link.restore()
    return url, before


def promote(sim: SimServer, number: int) -> None:
    dep = deployment(sim, TARGET)
    version = next(v for v in versions(sim, dep["id"]) if int(v["version_number"]) == number)
    answer = httpx.post(
        f"{sim.miosa}/deployments/{dep['id']}/versions/{version['id']}/promote",
        headers={**HEADERS, "Idempotency-Key": f"colleague-{number}"},
        json={},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_a_rerun_after_the_deployment_moved_on_plans_from_what_is_live_not_the_old_target(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """Rolled back v(n) -> v(n-1) with the answer lost; a colleague then made a newer version live. A plain
    rollback now must not replay the old one (claiming "rolled back v(new) -> v(n-1)") but roll back from
    what is live, once, and close the old change as still unknown."""
    with fault_proxy(own_sim.port) as link:
        url, before = lose_then(link, own_sim, capsys)
        # Neither where the lost rollback left from nor where it went: two ready versions below.
        elsewhere = before - 2
        promote(own_sim, elsewhere)
        assert number_of(own_sim, deployment(own_sim, TARGET)) == elsewhere
        expected = one_step_back(own_sim, deployment(own_sim, TARGET))

        second = against(capsys, url, "rollback", TARGET, "--yes")

    assert second.code == 0, second
    assert f"on v{elsewhere} now" in second.err and "closed" in second.err, second.err
    assert "idempotency key" not in second.out
    assert number_of(own_sim, deployment(own_sim, TARGET)) == expected
    assert rolled_back_events(own_sim) == 2  # the lost one, and this one: each once
    settled = [r for r in audit("rollback") if r["phase"] == "reconciled"]
    assert [r["outcome"] for r in settled] == ["still unknown, closed"], settled
    assert OpenChanges().all() == []


def test_a_replay_whose_effect_was_undone_since_is_not_reported_as_done(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """Rolled back (answer lost); a colleague rolls forward to exactly where it was. The re-run resends the
    same key, the server replays "done": shipdeck reads back, sees the change undone, says so, sends
    nothing new. Asked once more, it rolls back anew, once."""
    with fault_proxy(own_sim.port) as link:
        url, before = lose_then(link, own_sim, capsys)
        promote(own_sim, before)

        second = against(capsys, url, "rollback", TARGET, "--yes")

        assert second.code == 1, second
        assert "changed since" in second.err and "Nothing new was sent" in second.err, second.err
        assert number_of(own_sim, deployment(own_sim, TARGET)) == before
        assert rolled_back_events(own_sim) == 1
        assert OpenChanges().all() == []

        third = against(capsys, url, "rollback", TARGET, "--yes")

    assert third.code == 0, third
    assert number_of(own_sim, deployment(own_sim, TARGET)) == before - 1
    assert rolled_back_events(own_sim) == 2


async def test_a_publish_is_not_read_back_as_applied_from_a_colleagues_new_version(
    own_sim: SimServer,
) -> None:
    adapter = make_adapter(Profile("t", "miosa", own_sim.miosa, Secret(ADMIN)))
    try:
        dep = await adapter.resolve_deployment(TARGET)
        known = (await adapter.list_versions(dep.id, limit=50)).items
        ours = PublishRequest(source_sandbox_id="sbx_ours", promote=False)
        plan = plan_publish(dep, ours, adapter.capabilities, versions=known)
        assert plan.check is not None
        colleague = PublishRequest(source_sandbox_id="sbx_colleague", promote=False)
        await adapter.publish(dep.id, colleague, idempotency_key="colleague-publish")
        assert await plan.check(adapter) is False, "a colleague's version was taken for ours"
        await adapter.publish(dep.id, ours, idempotency_key="our-publish")
        assert await plan.check(adapter) is True
    finally:
        await adapter.aclose()


def test_env_values_are_part_of_the_changes_identity_but_never_in_it() -> None:
    dep = Deployment(id="dep_1", provider="miosa", name="web")
    one = plan_env_set(dep, {"TOKEN": "s3cret-one"}, "production")
    two = plan_env_set(dep, {"TOKEN": "s3cret-two"}, "production")
    again = plan_env_set(dep, {"TOKEN": "s3cret-one"}, "production")
    elsewhere = plan_env_set(dep.model_copy(update={"id": "dep_2"}), {"TOKEN": "s3cret-one"}, "production")
    assert one.identity == again.identity
    assert one.identity != two.identity, "other values would reuse the key of an unknown earlier set"
    assert one.identity.split(":")[-1] != elsewhere.identity.split(":")[-1]
    assert "s3cret" not in one.identity + json.dumps(one.details)


def test_a_mixpeek_rollback_whose_reread_fails_is_unknown_and_quotes_the_changes_request_id(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """Mixpeek's restore is a POST then a GET of the app: the GET failing after the POST took effect is
    "may have been applied", never "not applied"; the audit quotes the POST's request id, not a read's."""
    posted: list[bool] = []

    def cut_the_reread(request: SeenRequest, real: httpx.Response) -> bytes | None:
        if request.method == "POST" and request.path.endswith("/restore"):
            posted.append(True)
        elif request.method == "GET" and posted and "/versions" not in request.path:
            return response(503, b'{"error": {"message": "down"}}')
        return None

    with threaded(relay(own_sim, cut_the_reread)) as server:
        url = server.url + "/v1/apps"
        rows = shipdeck(capsys, "--provider", "mixpeek", "--url", url, "ls", "--json")
        assert rows.code == 0, rows
        name = next(r["name"] for r in json.loads(rows.out) if r.get("environment") == "staging")
        result = shipdeck(
            capsys, "--provider", "mixpeek", "--url", url, "--timeout", "4", "rollback", name, "--yes"
        )
    assert result.code == 6, result
    assert "not applied" not in result.err, result.err
    restores = [r for r in own_sim.requests() if r["method"] == "POST" and r["path"].endswith("/restore")]
    assert len(restores) == 1
    outcome = next(r for r in audit("rollback") if r["phase"] == "outcome")
    assert outcome["request_id"] == restores[0]["request_id"], (outcome, restores)


def test_the_same_change_sent_by_another_process_at_the_same_time_is_not_sent_again(
    own_sim: SimServer,
) -> None:
    """While one shipdeck process sends a rollback (here: this test holds that change's lock), another
    asked for the same one sends nothing and says why."""
    dep = deployment(own_sim, TARGET)
    listed = versions(own_sim, dep["id"])
    active = number_of(own_sim, dep)
    target = max(
        (v for v in listed if v["state"] == "ready" and int(v["version_number"]) < active),
        key=lambda v: int(v["version_number"]),
    )
    row = Deployment(id=dep["id"], provider="miosa", name=TARGET)
    identity = rollback_identity(row, None, Version(id=target["id"], deployment_id=dep["id"]))
    profile = "miosa@127.0.0.1"  # the ad hoc profile's name (provider@host)
    with OpenChanges().sending(profile, identity) as ours:
        assert ours
        command = ["--provider", "miosa", "--url", own_sim.miosa, "rollback", TARGET, "--yes"]
        other = subprocess.run(
            [sys.executable, "-m", "shipdeck", *command], capture_output=True, text=True, timeout=120
        )
    assert other.returncode == 1, other
    assert "another shipdeck process is sending this same change" in other.stderr, other.stderr
    assert rolled_back_events(own_sim) == 0


def test_a_key_the_server_holds_for_another_request_is_sent_once_and_not_again_under_a_new_key(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """An open change whose key the server holds for a different body: the earlier request reached the
    server and may have been applied. The old key is sent once, and the change is not sent again under a
    new key (that made a publish twice: two versions); it is closed as still unknown, and the user is
    told to check first. Asked once more, it is a new change, applied once."""
    dep = deployment(own_sim, TARGET)
    held_key = "held-for-another-body"
    earlier = httpx.post(
        f"{own_sim.miosa}/deployments/{dep['id']}/env",
        headers={**HEADERS, "Idempotency-Key": held_key},
        json={"env": {"PROBE_A": "zero"}, "environment": "production"},
        timeout=10,
    )
    assert earlier.status_code == 200, earlier.text
    row = Deployment(id=dep["id"], provider="miosa", name=TARGET)
    plan = plan_env_set(row, {"PROBE_A": "two"}, "production")
    OpenChanges().add(
        OpenChange(
            profile="miosa@127.0.0.1",
            identity=plan.identity,
            idempotency_key=held_key,
            audit_id="a0",
            action=plan.action,
            target=plan.target,
            summary=plan.summary,
        )
    )
    mark = own_sim.last_request_seq()

    result = against(capsys, own_sim.miosa, "env", TARGET, "set", "PROBE_A=two", "--yes")

    assert result.code == 1, result
    assert "was not sent again" in result.err and "an earlier attempt reached the server" in result.err
    assert "check what it did before asking again" in result.err, result.err
    writes = [r for r in own_sim.requests(mark) if r["method"] == "POST" and r["path"].endswith("/env")]
    assert [r.get("idempotency_key") for r in writes] == [held_key], writes
    settled = [r for r in audit("env.set") if r["phase"] == "reconciled"]
    assert [r["outcome"] for r in settled] == ["still unknown, closed"], settled
    assert OpenChanges().all() == []

    # Checked, and asked again: a new change under a new key, applied once.
    again = against(capsys, own_sim.miosa, "env", TARGET, "set", "PROBE_A=two", "--yes")
    assert again.code == 0, again
    writes = [r for r in own_sim.requests(mark) if r["method"] == "POST" and r["path"].endswith("/env")]
    assert len(writes) == 2 and writes[1].get("idempotency_key") != held_key, writes
    assert writes[1]["status"] == 200, writes


class _SlowHuman:
    """A terminal whose user answers "y" after a colleague promoted another version meanwhile."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        self.meanwhile = meanwhile

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        self.meanwhile()
        return "y\n"


def test_a_cli_rollback_confirmed_after_another_version_went_live_is_not_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, own_sim: SimServer
) -> None:
    before = number_of(own_sim, deployment(own_sim, TARGET))
    monkeypatch.setattr(sys, "stdin", _SlowHuman(lambda: promote(own_sim, before - 2)))
    result = against(capsys, own_sim.miosa, "rollback", TARGET)
    assert result.code == 1, result
    assert f"v{before - 2} is active now, not v{before}" in result.err, result.err
    assert "nothing was sent" in result.err
    assert rolled_back_events(own_sim) == 0
    assert number_of(own_sim, deployment(own_sim, TARGET)) == before - 2


def test_a_rollback_retried_after_another_version_went_live_is_not_retried(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """The first rollback attempt gets 503 (never forwarded: nothing applied); meanwhile a colleague makes
    another version live. The transport's retry of the same request would take it down: it is not sent
    again, and the outcome says why (nothing was applied)."""
    before = number_of(own_sim, deployment(own_sim, TARGET))
    refused: list[bool] = []

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if request.method == "POST" and request.path.endswith("/rollback") and not refused:
            refused.append(True)
            await asyncio.to_thread(promote, own_sim, before - 2)
            writer.write(response(503, b'{"error": {"message": "busy"}}', {"Retry-After": "0"}))
            return
        await relay(own_sim, lambda request, real: None)(request, writer)

    with threaded(handler) as server:
        result = against(capsys, server.url + "/api/v1", "rollback", TARGET, "--yes")
    assert result.code != 0, result
    assert "not retried" in result.err or "was not sent again" in result.err, result.err
    posts = [r for r in own_sim.requests() if r["method"] == "POST" and r["path"].endswith("/rollback")]
    assert posts == [], "retried over the colleague's version"
    assert rolled_back_events(own_sim) == 0
    assert number_of(own_sim, deployment(own_sim, TARGET)) == before - 2


async def test_a_waiting_change_resent_after_the_row_moved_is_not_sent(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """The Pending screen's resend (session.resend): the row has another version live since; resending
    the rollback would take it down. Closed as still unknown, nothing sent."""
    from shipdeck.live.plans import plan_rollback
    from shipdeck.live.session import OutcomeStatus

    async with session_through_a_proxy(own_sim, tmp_path) as (link, adapter, session, dep):
        plan = plan_rollback(dep, await adapter.all_versions(dep.id))
        before = number_of(own_sim, deployment(own_sim, TARGET))
        link.lose_answer_to(lambda h: h.method == "POST" and h.path.endswith("/rollback"), then_down=True)
        outcome = await session.execute(plan, settle_for=0.0)
        assert outcome.status is OutcomeStatus.UNKNOWN
        assert session.pending[plan.identity].state == "waiting"
        link.restore()
        await asyncio.to_thread(promote, own_sim, before - 2)
        mark = own_sim.last_request_seq()
        again = await session.resend(plan.identity)
    assert again is not None and again.status is OutcomeStatus.SUPERSEDED, again
    assert "changed while this waited" in again.message() and "was not sent again" in again.message()
    assert not [r for r in own_sim.requests(mark) if r["method"] == "POST"], "resent over the new version"
    assert rolled_back_events(own_sim) == 1 and number_of(own_sim, deployment(own_sim, TARGET)) == before - 2
    assert not session.pending


def test_a_cli_killed_mid_change_leaves_it_open_and_the_rerun_resends_it_once(own_sim: SimServer) -> None:
    """SIGTERM (a closed SSH session) while the rollback waits for its answer: before, no outcome and no
    open change were left, and the re-run rolled back one more step."""
    before = number_of(own_sim, deployment(own_sim, TARGET))

    async def hold_the_rollback(request: SeenRequest, writer: Writer) -> None:
        if request.method == "POST" and request.path.endswith("/rollback"):
            await asyncio.sleep(120)  # never forwarded, never answered: the process waits
            return
        await relay(own_sim, lambda request, real: None)(request, writer)

    with threaded(hold_the_rollback) as server:
        command = ["--provider", "miosa", "--url", server.url + "/api/v1", "rollback", TARGET, "--yes"]
        process = subprocess.Popen(
            [sys.executable, "-m", "shipdeck", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 60
            while not OpenChanges().all() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
    assert [c.action for c in OpenChanges().all()] == ["rollback"], "the change in flight left no record"
    command = ["--provider", "miosa", "--url", own_sim.miosa, "rollback", TARGET, "--yes"]
    rerun = subprocess.run(
        [sys.executable, "-m", "shipdeck", *command], capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun
    assert "unknown outcome" in rerun.stderr, rerun.stderr
    assert number_of(own_sim, deployment(own_sim, TARGET)) == before - 1
    assert rolled_back_events(own_sim) == 1, "one intent, rolled back twice"
    assert OpenChanges().all() == []


async def test_an_env_set_applied_later_closes_an_earlier_unknown_one_of_the_same_var(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """set X=one (answer lost), then set X=two (applied): asking for X=one again is a new change, not a
    replay of the stale one ("already applied, not applied twice" while the server held two)."""
    from shipdeck.live.session import OutcomeStatus

    async with session_through_a_proxy(own_sim, tmp_path) as (link, _adapter, session, dep):
        one = plan_env_set(dep, {"PROBE_X": "one"}, "production")
        link.lose_answer_to(lambda h: h.method == "POST" and h.path.endswith("/env"), then_down=True)
        first = await session.execute(one, settle_for=0.0)
        assert first.status is OutcomeStatus.UNKNOWN
        link.restore()
        two = await session.execute(plan_env_set(dep, {"PROBE_X": "two"}, "production"))
        assert two.status is OutcomeStatus.OK
        assert session.open_changes is not None and session.open_changes.all() == []
        again = await session.execute(plan_env_set(dep, {"PROBE_X": "one"}, "production"))
    assert again.status is OutcomeStatus.OK and not again.replayed, again.message()
    assert again.idempotency_key != first.idempotency_key


async def test_a_publish_asked_again_after_a_lost_answer_is_applied_once_not_changed_since(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """The publish reached the server and its answer was lost. Asked again, it is planned after the new
    version exists, so the read-back found no version newer than the ones known and called the replay
    "changed since"; asking again after that published a second version. Now the replay is the server's
    word that the version was made: applied once."""
    from shipdeck.live.session import OutcomeStatus

    async with session_through_a_proxy(own_sim, tmp_path) as (link, adapter, session, dep):
        request = PublishRequest(source_sandbox_id="sbx_asked_twice", promote=False)
        known = (await adapter.list_versions(dep.id, limit=50)).items
        link.lose_answer_to(lambda h: h.method == "POST" and h.path.endswith("/publish"), then_down=True)
        first = await session.execute(
            plan_publish(dep, request, adapter.capabilities, versions=known), settle_for=0.0
        )
        assert first.status is OutcomeStatus.UNKNOWN
        link.restore()
        listed = (await adapter.list_versions(dep.id, limit=50)).items
        again = await session.execute(plan_publish(dep, request, adapter.capabilities, versions=listed))
        assert again.status is OutcomeStatus.OK, again.message()
    made = [v for v in versions(own_sim, dep.id) if v.get("source_sandbox_id") == "sbx_asked_twice"]
    assert len(made) == 1, made


def test_a_key_still_in_use_is_not_taken_for_a_mismatch() -> None:
    """A 409 IDEMPOTENCY_KEY_IN_USE (the first request still being processed) sent the change again under
    a new key: two versions. Only a payload mismatch means the key belongs to another request."""
    from shipdeck.api.errors import Conflict
    from shipdeck.live.session import _idempotency_mismatch

    assert _idempotency_mismatch(Conflict("x", status=409, code="IDEMPOTENCY_PAYLOAD_MISMATCH"))
    assert not _idempotency_mismatch(Conflict("x", status=409, code="IDEMPOTENCY_KEY_IN_USE"))


async def test_a_promote_asked_again_and_found_active_closes_the_earlier_unknown_one(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """A promote whose answer was lost, asked again: "already active; nothing was sent", and the earlier
    one stayed open, so a deliberate promote of the same version later replayed its stale key and said
    "changed since". Now the finding settles it: closed, nothing left to replay."""
    from shipdeck.live.plans import NothingToDo, plan_promote
    from shipdeck.live.session import OutcomeStatus

    async with session_through_a_proxy(own_sim, tmp_path) as (link, adapter, session, dep):
        listed = await adapter.all_versions(dep.id)
        target = next(v for v in listed if v.state == "ready" and v.id != dep.active_version_id)
        link.lose_answer_to(lambda h: h.method == "POST" and h.path.endswith("/promote"), then_down=True)
        first = await session.execute(plan_promote(dep, listed, target), settle_for=0.0)
        assert first.status is OutcomeStatus.UNKNOWN
        link.restore()
        assert OpenChanges(tmp_path / "open-changes.json").all() != []
        now = await adapter.get_deployment(dep.id)
        with pytest.raises(NothingToDo, match="already active") as found:
            plan_promote(now, await adapter.all_versions(dep.id), target.id)
        session.found_nothing_to_do(found.value)
    assert OpenChanges(tmp_path / "open-changes.json").all() == []
    records = [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)]
    assert [r["phase"] for r in records if r["action"] == "promote"][-1] == "reconciled"


def test_an_env_set_of_unknown_outcome_says_to_check_with_the_env_command(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """The set reached the server and its answer was lost: the hint was `shipdeck status status-page`, which
    shows no env; it names the command that does."""
    with fault_proxy(own_sim.port) as link:
        link.lose_answer_to(lambda h: h.method == "POST" and h.path.endswith("/env"), then_down=True)
        result = against(capsys, link.url(own_sim.miosa), "env", TARGET, "set", "PROBE_HINT=one", "--yes")
    assert result.code == 6, result
    # With the endpoint the run was given: pasted as printed, it reads the same account.
    hint = f"; check with `shipdeck --provider miosa --url {link.url(own_sim.miosa)} env {TARGET}`"
    assert result.err.rstrip().endswith(hint), result.err


def test_the_check_hint_is_the_command_that_shows_the_change() -> None:
    from shipdeck.cli.commands import check_command
    from shipdeck.live.env import EnvListing
    from shipdeck.live.plans import plan_auto_deploy, plan_env_unset

    dep = Deployment(id="dep_1", provider="miosa", name="shop api", auto_deploy=True)
    assert check_command(plan_env_set(dep, {"A": "1"}, "production")) == "shipdeck env 'shop api'"
    assert (
        check_command(
            plan_env_unset(dep, "A", EnvListing("preview", [EnvVar(name="A", environment="preview")]))
        )
        == "shipdeck env 'shop api' --environment preview"
    )
    assert (
        check_command(plan_auto_deploy(dep, on=False, turn_on="shipdeck auto-deploy x on"))
        == "shipdeck auto-deploy 'shop api'"
    )
    # With the options that chose this run's profile (the default one may be another account's).
    named = argparse.Namespace(profile="eu prod", url=None, provider=None)
    assert check_command(plan_env_set(dep, {"A": "1"}, "production"), named) == (
        "shipdeck --profile 'eu prod' env 'shop api'"
    )


def test_a_domain_remove_asked_again_and_found_gone_closes_the_earlier_unknown_one(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """The remove reached the server and its answer was lost; asked again, "has no domain" (exit 4), and
    the earlier remove stayed open for ever. Now finding it gone closes it, and what was asked holds: a
    script retrying it is told so with exit 0 (exit 4 read as a failure after the removal succeeded). With
    no earlier remove, a missing domain is still not found (exit 4)."""
    with fault_proxy(own_sim.port) as link:
        url = link.url(own_sim.miosa)
        assert against(capsys, url, "domains", TARGET, "add", "gone-twice.example.com").code == 0
        link.lose_answer_to(lambda h: h.method == "DELETE" and "/domains/" in h.path, then_down=True)
        first = against(capsys, url, "domains", TARGET, "rm", "gone-twice.example.com", "--yes")
        assert first.code == 6, first
        hint = f"; check with `shipdeck --provider miosa --url {url} domains {TARGET}`"
        assert hint in first.err, first.err
        link.restore()
        assert [c.action for c in OpenChanges().all()] == ["domain.remove"]
        again = against(capsys, url, "domains", TARGET, "rm", "gone-twice.example.com", "--yes")
        once_more = against(capsys, url, "domains", TARGET, "rm", "gone-twice.example.com", "--yes")
    assert again.code == 0, again
    assert "the earlier removal (outcome unknown) or another change removed it; nothing was sent" in again.out
    assert OpenChanges().all() == []
    assert audit("domain.remove")[-1]["phase"] == "reconciled"
    assert once_more.code == 4 and "no domain" in once_more.err, once_more
