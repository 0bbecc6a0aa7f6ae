"""The reads screens make through live.reads.Reads (against a real sandbox), and the Tasks screen's change
plans, whose calls now live in live.plans rather than in the screen."""

from __future__ import annotations

import pytest

from shipdeck.api.factory import make_adapter
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.plans import plan_task_action
from shipdeck.live.reads import Reads
from tests.conftest import ADMIN
from tests.simproc import SimServer


async def test_reads_give_the_screens_what_the_server_has(sim: SimServer) -> None:
    adapter = make_adapter(Profile("reads", "miosa", sim.miosa, Secret(ADMIN)))
    reads = Reads(adapter)
    try:
        dep = (await adapter.list_deployments(limit=1)).items[0]
        assert (await reads.deployment(dep.id)).id == dep.id
        assert [d.id for d in await reads.domains(dep.id)] == [
            d.id for d in await adapter.list_domains(dep.id)
        ]
        env = await reads.env(dep.id, "production")
        assert [v.name for v in env.rows] == [v.name for v in await adapter.list_env(dep.id)]
        assert env.environment == "production" and env.note() is None
        # Miosa has runtime and request logs; a build's log only when there is a build to show.
        assert reads.log_sources(None) == ["deployment", "runtime", "requests"]
        assert reads.log_sources("bld_1") == ["deployment", "build", "runtime", "requests"]
        targets = reads.raw_targets(dep, None)
        assert [t.key for t in targets] == ["deployment", "builds", "domains"]
        bodies = await reads.raw_bodies(targets[0])
        assert [(method, dep.id in path) for method, path, _ in bodies] == [("GET", True)]
        assert reads.redact is not None and reads.redact(f"echo {ADMIN}") == "echo ****"
        assert reads.capabilities is adapter.capabilities
    finally:
        await adapter.aclose()


def test_a_task_plan_is_one_of_the_tasks_screens_actions() -> None:
    plan = plan_task_action("agent-pause", "agt_1", task_id="tsk_1", done="Paused agent agt_1")
    assert (plan.action, plan.target, plan.identity) == ("agent-pause", "agt_1", "agent-pause:agt_1:")
    # An unknown outcome quotes the title: what was asked, not "Paused" (it may not have been).
    approve = plan_task_action(
        "approval-approve",
        "apr_1",
        task_id="tsk_1",
        done="Approved apr_1 (send_email)",
        what="send_email",
        agent_id="agt_1",
    )
    assert (approve.title, approve.summary, approve.done(None)) == (
        "Approve apr_1",
        "send_email",
        "Approved apr_1 (send_email)",
    )
    with pytest.raises(ValueError, match="not a task action"):
        plan_task_action("agent-explode", "agt_1", task_id="tsk_1", done="?")
    with pytest.raises(ValueError, match="needs its agent"):
        plan_task_action("approval-approve", "apr_1", task_id="tsk_1", done="Approved apr_1")
