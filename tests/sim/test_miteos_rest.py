"""The simulator's Miteos REST surface, over real HTTP against `shipdeck sim` subprocesses."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MITEOS_TOKEN
from tests.simproc import SimServer, running_sim

TERMINAL_TASK = {"complete", "failed", "cancelled"}


@pytest.fixture(scope="module")
def fast_sim() -> Iterator[SimServer]:
    """A demo-seeded simulator of this module's own: fast clock, no rate limit in the way of polling."""
    with running_sim(["--rate-limit", "100000"], speed=200.0) as server:
        yield server
        # Every refusal above is an answer, never a crash of a handler or of a background lifecycle.
        assert not [line for line in server.output if "Traceback" in line], "\n".join(server.output)


def miteos_client(server: SimServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.miteos, headers={"Authorization": f"Bearer {MITEOS_TOKEN}"}, timeout=10
    )


@pytest.fixture
def api(fast_sim: SimServer) -> Iterator[httpx.Client]:
    with miteos_client(fast_sim) as client:
        yield client


Json = dict[str, Any]


def wait_for(fetch: Callable[[], Json], done: Callable[[Json], bool], seconds: float = 20) -> Json:
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {seconds} s; last value: {value}")
        time.sleep(0.03)


def get_json(api: httpx.Client, path: str, **params: Any) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def create_task(api: httpx.Client, prompt: str, **config: Any) -> dict[str, Any]:
    response = api.post("/tasks", json={"prompt": prompt, "config": config})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    assert task["status"] == "pending" and task["prompt"] == prompt
    return task


def waiting_agent(api: httpx.Client) -> tuple[str, dict[str, Any]]:
    """A task with one agent at autonomy 0: it stops at an approval after its first actions, and stays."""
    task = create_task(api, "Collect the quarterly numbers", max_agents=1, autonomy_level=0)
    running = wait_for(
        lambda: get_json(api, f"/tasks/{task['id']}"),
        lambda t: bool(t["agents"]) and t["agents"][0]["status"] == "waiting",
    )
    return task["id"], running["agents"][0]


# ------------------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize("token", [None, "mt_test_nope", "mt_live_demo", "msk_u_demo_admin"])
def test_a_bad_token_is_refused_with_detail(fast_sim: SimServer, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{fast_sim.miteos}/tasks", headers=headers)
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)
    assert "x-ratelimit-limit" in response.headers


# ------------------------------------------------------------------------------------------------ deployments


def test_deployment_pipeline_reaches_live_with_a_preview_url(api: httpx.Client) -> None:
    finals = []
    for index in range(6):
        response = api.post(
            "/deployments", json={"workspace_id": "ws_site", "target": "vercel", "config_id": f"cfg_{index}"}
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["status"] == "pending" and created["url"] is None and created["completed_at"] is None
        assert created["id"].startswith("dep_")
        finals.append(
            wait_for(
                functools.partial(get_json, api, f"/deployments/{created['id']}"),
                lambda d: d["status"] in ("live", "failed"),
            )
        )
    live = [d for d in finals if d["status"] == "live"]
    assert live, "six deployments with a 25% failure rate all failed"
    for deployment in finals:
        assert deployment["completed_at"] is not None
        if deployment["status"] == "live":
            assert deployment["url"].startswith("https://") and ".preview." in deployment["url"]
        else:
            assert deployment["url"] is None and deployment["error"]


def test_a_failing_config_fails_at_a_stage(api: httpx.Client) -> None:
    response = api.post(
        "/deployments", json={"workspace_id": "ws_site", "target": "expo", "config_id": "cfg_will_fail"}
    )
    deployment_id = response.json()["id"]
    path = f"/deployments/{deployment_id}"
    final = wait_for(lambda: get_json(api, path), lambda d: d["status"] == "failed")
    assert final["failed_stage"] in ("building", "deploying")
    assert final["error"] and final["completed_at"] and final["url"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"workspace_id": "ws", "target": "heroku", "config_id": "c"},
        {"target": "vercel", "config_id": "c"},
        {"workspace_id": "ws", "target": "vercel", "config_id": ""},
    ],
)
def test_a_bad_deployment_request_is_422(api: httpx.Client, body: dict[str, Any]) -> None:
    response = api.post("/deployments", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_a_body_that_is_not_json_is_422(api: httpx.Client) -> None:
    response = api.post("/tasks", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]


def test_the_same_idempotency_key_replays_the_deployment(api: httpx.Client) -> None:
    body = {"workspace_id": "ws_idem", "target": "netlify", "config_id": "cfg"}
    first = api.post("/deployments", json=body, headers={"Idempotency-Key": "k-dep-1"})
    again = api.post("/deployments", json=body, headers={"Idempotency-Key": "k-dep-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotency-replayed"] == "true"
    listed = get_json(api, "/deployments", workspace_id="ws_idem")
    assert listed["total"] == 1


def test_deployments_page_to_the_end_newest_first(api: httpx.Client) -> None:
    total = get_json(api, "/deployments")["total"]
    assert total >= 6  # the demo seed
    seen: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = get_json(api, "/deployments", limit=4, offset=offset)
        assert page["total"] >= total
        if not page["deployments"]:
            break
        seen.extend(page["deployments"])
        offset += 4
    ids = [d["id"] for d in seen]
    assert len(ids) == len(set(ids)) >= total
    stamps = [d["created_at"] for d in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert {d["target"] for d in seen} >= {"vercel", "netlify", "cloudflare", "expo"}


def test_deployment_filters(api: httpx.Client) -> None:
    live = get_json(api, "/deployments", status="live", limit=100)
    assert live["deployments"] and all(d["status"] == "live" for d in live["deployments"])
    netlify = get_json(api, "/deployments", target="netlify", limit=100)
    assert all(d["target"] == "netlify" for d in netlify["deployments"])
    assert get_json(api, "/deployments", workspace_id="ws_nobody")["total"] == 0


def test_a_scale_seed_pages_to_the_end() -> None:
    with running_sim(["--rate-limit", "100000"], seed="scale:45") as server, miteos_client(server) as api:
        pages = [get_json(api, "/deployments", offset=offset) for offset in (0, 20, 40, 60)]
    assert [len(page["deployments"]) for page in pages] == [20, 20, 5, 0]
    assert {page["total"] for page in pages} == {45}
    ids = {d["id"] for page in pages for d in page["deployments"]}
    assert len(ids) == 45
    assert {d["status"] for page in pages for d in page["deployments"]} <= {"live", "failed"}


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"offset": "-1"}, {"status": "done"}]
)
def test_bad_list_parameters_are_422(api: httpx.Client, params: dict[str, str]) -> None:
    for path in ("/deployments", "/tasks"):
        response = api.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert next(iter(params)) in response.json()["detail"]


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    for method, path in [
        ("GET", "/deployments/dep_missing"),
        ("GET", "/tasks/task_missing"),
        ("POST", "/tasks/task_missing/cancel"),
        ("GET", "/tasks/task_missing/deliverables"),
        ("POST", "/agents/agnt_missing/pause"),
        ("POST", "/agents/agnt_missing/kill"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 404, (method, path)
        assert "missing" in response.json()["detail"]


# ------------------------------------------------------------------------------------------------ tasks


def test_the_demo_has_tasks_with_agents_and_a_waiting_approval(api: httpx.Client) -> None:
    tasks = get_json(api, "/tasks", limit=100)["tasks"]
    assert len(tasks) >= 4 and all(task["agents"] for task in tasks[-5:])
    approvals = [a for task in tasks for a in task["approvals"]]
    assert approvals
    approval = approvals[0]
    assert approval["id"].startswith("apr_") and approval["risk_level"] in ("medium", "high", "critical")
    assert set(approval) >= {"agent_id", "task_id", "action", "summary", "created_at"}
    task = next(t for t in tasks if t["id"] == approval["task_id"])
    waiting = next(a for a in task["agents"] if a["id"] == approval["agent_id"])
    assert waiting["status"] == "waiting" and waiting["pending_approval"]["id"] == approval["id"]


def test_a_task_runs_to_complete_with_deliverables(api: httpx.Client, fast_sim: SimServer) -> None:
    task = create_task(api, "Write a short market summary", max_agents=2, autonomy_level=95)
    assert task["subtasks"] == [] and task["total_tokens_used"] == 0 and task["completed_at"] is None
    final = wait_for(lambda: get_json(api, f"/tasks/{task['id']}"), lambda t: t["status"] in TERMINAL_TASK)
    assert final["status"] == "complete" and final["completed_at"]
    assert len(final["agents"]) == len(final["subtasks"]) == 2
    assert all(a["status"] == "complete" and a["progress"] == 100 for a in final["agents"])
    assert all(s["status"] == "complete" for s in final["subtasks"])
    assert final["total_tokens_used"] > 0

    deliverables = get_json(api, f"/tasks/{task['id']}/deliverables")["deliverables"]
    assert len(deliverables) == 2
    first = deliverables[0]
    assert first["id"].startswith("dlvr_") and first["task_id"] == task["id"]
    download = api.get(first["download_url"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith(first["mime_type"])
    assert f'filename="{first["filename"]}"' in download.headers["content-disposition"]
    assert len(download.content) == first["size_bytes"] > 0
    missing = api.get(f"/tasks/{task['id']}/deliverables/dlvr_missing")
    assert missing.status_code == 404


def test_a_task_whose_prompt_says_fail_fails(api: httpx.Client) -> None:
    task = create_task(api, "This one will fail on purpose", max_agents=2)
    final = wait_for(lambda: get_json(api, f"/tasks/{task['id']}"), lambda t: t["status"] in TERMINAL_TASK)
    assert final["status"] == "failed" and final["completed_at"]
    statuses = sorted(a["status"] for a in final["agents"])
    assert statuses[0] == "error" and all(s in ("error", "killed") for s in statuses)


def test_list_tasks_filters_by_status_and_pages(api: httpx.Client) -> None:
    everything = get_json(api, "/tasks", limit=100)
    paged: list[str] = []
    for offset in range(0, everything["total"] + 2, 2):
        paged += [t["id"] for t in get_json(api, "/tasks", limit=2, offset=offset)["tasks"]]
    assert len(paged) == len(set(paged)) >= everything["total"]
    complete = get_json(api, "/tasks", status="complete", limit=100)
    assert complete["tasks"] and all(t["status"] == "complete" for t in complete["tasks"])
    assert complete["total"] == len(complete["tasks"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt": ""},
        {"prompt": 12},
        {"prompt": "x", "config": {"autonomy_level": 101}},
        {"prompt": "x", "config": {"max_agents": 0}},
        {"prompt": "x", "config": {"deploy_target": "heroku"}},
        {"prompt": "x", "config": "fast"},
    ],
)
def test_a_bad_task_request_is_422(api: httpx.Client, body: dict[str, Any]) -> None:
    response = api.post("/tasks", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_cancel_a_task_kills_its_agents(api: httpx.Client) -> None:
    task_id, _ = waiting_agent(api)
    response = api.post(f"/tasks/{task_id}/cancel")
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["completed_at"]
    assert [a["status"] for a in cancelled["agents"]] == ["killed"]
    assert cancelled["approvals"] == []
    again = api.post(f"/tasks/{task_id}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


# ------------------------------------------------------------------------------------------------ agents


def test_pause_and_resume_an_agent(api: httpx.Client) -> None:
    task_id, agent = waiting_agent(api)
    paused = api.post(f"/agents/{agent['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert get_json(api, f"/tasks/{task_id}")["status"] == "paused"
    twice = api.post(f"/agents/{agent['id']}/pause")
    assert twice.status_code == 409 and "already paused" in twice.json()["detail"]

    resumed = api.post(f"/agents/{agent['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "waiting"
    assert get_json(api, f"/tasks/{task_id}")["status"] == "running"
    not_paused = api.post(f"/agents/{agent['id']}/resume")
    assert not_paused.status_code == 409 and "only a paused agent" in not_paused.json()["detail"]


def test_guide_an_agent(api: httpx.Client) -> None:
    _, agent = waiting_agent(api)
    for body in ({}, {"instructions": ""}, {"instructions": "   "}, {"instructions": 3}):
        response = api.post(f"/agents/{agent['id']}/guide", json=body)
        assert response.status_code == 422 and "instructions" in response.json()["detail"]
    guided = api.post(f"/agents/{agent['id']}/guide", json={"instructions": "Prefer primary sources"})
    assert guided.status_code == 200 and guided.json()["id"] == agent["id"]


def test_approve_lets_the_agent_finish(api: httpx.Client) -> None:
    task_id, agent = waiting_agent(api)
    approval = agent["pending_approval"]
    assert approval["agent_id"] == agent["id"] and approval["task_id"] == task_id
    base = f"/agents/{agent['id']}/approve"
    assert api.post(f"{base}/apr_missing", json={"approved": True}).status_code == 404
    bad = api.post(f"{base}/{approval['id']}", json={"approved": "yes"})
    assert bad.status_code == 422 and "approved" in bad.json()["detail"]

    answered = api.post(f"{base}/{approval['id']}", json={"approved": True})
    assert answered.status_code == 200
    assert answered.json()["status"] == "acting" and answered.json()["pending_approval"] is None
    again = api.post(f"{base}/{approval['id']}", json={"approved": False})
    assert again.status_code == 409 and "already answered" in again.json()["detail"]
    final = wait_for(lambda: get_json(api, f"/tasks/{task_id}"), lambda t: t["status"] in TERMINAL_TASK)
    assert final["status"] == "complete"


def test_reject_makes_the_agent_revise(api: httpx.Client) -> None:
    _, agent = waiting_agent(api)
    approval_id = agent["pending_approval"]["id"]
    answered = api.post(
        f"/agents/{agent['id']}/approve/{approval_id}", json={"approved": False, "reason": "too risky"}
    )
    assert answered.status_code == 200 and answered.json()["status"] in ("thinking", "acting")


@pytest.mark.parametrize("verb", ["cancel", "kill"])
def test_cancel_an_agent_then_it_cannot_be_paused(api: httpx.Client, verb: str) -> None:
    task_id, agent = waiting_agent(api)
    killed = api.post(f"/agents/{agent['id']}/{verb}")
    assert killed.status_code == 200 and killed.json()["status"] == "killed"
    task = get_json(api, f"/tasks/{task_id}")
    assert task["status"] == "cancelled" and task["approvals"] == []
    for action in ("pause", "resume", "cancel"):
        refused = api.post(f"/agents/{agent['id']}/{action}")
        assert refused.status_code == 409 and "killed" in refused.json()["detail"]
    approval_id = agent["pending_approval"]["id"]
    stale = api.post(f"/agents/{agent['id']}/approve/{approval_id}", json={"approved": True})
    assert stale.status_code == 409


def test_an_unknown_agent_action_is_404(api: httpx.Client) -> None:
    _, agent = waiting_agent(api)
    assert api.post(f"/agents/{agent['id']}/explode").status_code == 404


# ------------------------------------------------------------------------------------------------ restart


def test_a_restart_on_the_same_db_keeps_tasks_and_finishes_them(tmp_path: Path) -> None:
    db_path = tmp_path / "sim.db"
    with (
        running_sim(["--rate-limit", "100000"], db_path=db_path, speed=1.0) as first,
        miteos_client(first) as api,
    ):
        before = get_json(api, "/tasks", limit=100)
        task = create_task(api, "Summarise the incident timeline", max_agents=1, autonomy_level=95)
        deployment = api.post(
            "/deployments", json={"workspace_id": "ws_r", "target": "cloudflare", "config_id": "c"}
        ).json()
    with (
        running_sim(["--rate-limit", "100000"], db_path=db_path, speed=400.0) as again,
        miteos_client(again) as api,
    ):
        after = get_json(api, "/tasks", limit=100)
        assert after["total"] == before["total"] + 1  # kept, and the seed did not run again
        assert task["id"] in {t["id"] for t in after["tasks"]}
        final = wait_for(
            lambda: get_json(api, f"/tasks/{task['id']}"), lambda t: t["status"] in TERMINAL_TASK
        )
        assert final["status"] == "complete"
        done = wait_for(
            lambda: get_json(api, f"/deployments/{deployment['id']}"),
            lambda d: d["status"] in ("live", "failed"),
        )
        assert done["completed_at"]


async def test_concurrent_agent_controls_answer_200_or_409_and_stay_consistent(
    api: httpx.Client, fast_sim: SimServer
) -> None:
    task_id, agent = waiting_agent(api)
    actions = ["pause", "resume", "guide"] * 10
    async with httpx.AsyncClient(base_url=fast_sim.miteos, headers=api.headers, timeout=10) as client:
        answers = await asyncio.gather(
            *(
                client.post(f"/agents/{agent['id']}/{action}", json={"instructions": "keep going"})
                for action in actions
            )
        )
    assert {answer.status_code for answer in answers} <= {200, 409}
    assert sum(answer.status_code == 200 for answer in answers) >= 10  # every guide succeeds
    task = get_json(api, f"/tasks/{task_id}")
    (final,) = task["agents"]
    assert final["status"] in ("paused", "waiting")
    assert task["status"] == ("paused" if final["status"] == "paused" else "running")
