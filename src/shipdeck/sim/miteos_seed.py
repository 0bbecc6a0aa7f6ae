"""The Miteos sandbox's seed data: the demo deployments and tasks, and the scale seed."""

from __future__ import annotations

from datetime import timedelta

from shipdeck.sim.core import SimContext, parse_seed
from shipdeck.sim.miteos_store import (
    DEFAULT_TASK_CONFIG,
    DELIVERABLE_FILES,
    DEPLOYMENT_ERRORS,
    DEPLOYMENT_FAILURE_RATE,
    DEPLOYMENT_TERMINAL,
    GATED_ACTIONS,
    TARGETS,
    TASK_ACTIVE,
    TOOLS,
    MiteosStore,
    _deliverable_body,
    _preview_url,
    new_id,
)


def seed(ctx: SimContext, kind: str) -> None:
    """Fill an empty database: ``demo`` (the demo story), ``scale:N`` (N deployments), ``empty`` (nothing)."""
    name, count = parse_seed(kind)
    store = MiteosStore(ctx)
    if name == "demo":
        _seed_demo(store)
    elif name == "scale":
        _seed_scale(store, count)


def _seed_demo(store: MiteosStore) -> None:
    """Six deployments across the targets, and five tasks: two running (one agent waiting on an approval),
    one paused, one complete with deliverables, one failed. The running ones trickle events for long."""
    ctx = store.ctx
    rng = ctx.rng
    epoch = ctx.clock.epoch

    def ago(minutes: float) -> str:
        return ctx.clock.iso(epoch - timedelta(minutes=minutes))

    deployments = [
        ("ws_marketing_site", "vercel", "cfg_vercel_prod", "live", 240),
        ("ws_docs_portal", "netlify", "cfg_netlify_docs", "live", 180),
        ("ws_edge_api", "cloudflare", "cfg_cf_workers", "failed", 95),
        ("ws_mobile_app", "expo", "cfg_expo_preview", "building", 2),
        ("ws_marketing_site", "vercel", "cfg_vercel_prod", "deploying", 1),
        ("ws_docs_portal", "netlify", "cfg_netlify_docs", "pending", 0.2),
    ]
    for workspace_id, target, config_id, status, minutes in deployments:
        deployment_id = new_id(rng, "dep_")
        created = ago(minutes)
        done = ago(minutes - 1) if status in DEPLOYMENT_TERMINAL else None
        store.db.execute(
            "INSERT INTO miteos_deployments(id, workspace_id, target, config_id, status, url, error, "
            "failed_stage, sandbox, created_at, updated_at, completed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            (
                deployment_id,
                workspace_id,
                target,
                config_id,
                status,
                _preview_url(deployment_id) if status == "live" else None,
                DEPLOYMENT_ERRORS["building"] if status == "failed" else None,
                "building" if status == "failed" else None,
                created,
                done or created,
                done,
            ),
        )

    tasks: list[tuple[str, str, list[tuple[str, str, int]], int]] = [
        # prompt, status, agents (type, status, progress), autonomy level
        (
            "Research competitor pricing pages and email a summary to the team",
            "running",
            [("researcher", "acting", 35), ("analyst", "thinking", 20), ("email", "waiting", 10)],
            40,
        ),
        (
            "Build a landing page for the spring launch",
            "running",
            [("builder", "acting", 15), ("researcher", "thinking", 25)],
            90,
        ),
        ("Reconcile last month's ledger exports", "paused", [("analyst", "paused", 50)], 70),
        (
            "Draft the weekly incident report",
            "complete",
            [("researcher", "complete", 100), ("email", "complete", 100)],
            90,
        ),
        ("Post the release notes to the community forum", "failed", [("social", "error", 30)], 90),
    ]
    for index, (prompt, status, agents, autonomy) in enumerate(tasks):
        task_id = new_id(rng, "task_")
        created = ago(60 - index * 10)
        config = {**DEFAULT_TASK_CONFIG, "max_agents": len(agents), "autonomy_level": autonomy}
        store.insert_task(
            task_id, prompt, status, config, None, 0, created, None if status in TASK_ACTIVE else ago(5)
        )
        for n, (agent_type, agent_status, progress) in enumerate(agents):
            agent_id = new_id(rng, "agnt_")
            tool = rng.choice(TOOLS[agent_type]) if agent_status == "acting" else None
            store.db.execute(
                "INSERT INTO miteos_agents(id, task_id, n, type, prompt, status, paused_status, "
                "current_tool, progress, tokens_used, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    agent_id,
                    task_id,
                    n,
                    agent_type,
                    f"{agent_type.capitalize()} part of: {prompt}",
                    agent_status,
                    "thinking" if agent_status == "paused" else None,
                    tool,
                    progress,
                    progress * 90,
                    created,
                    created,
                ),
            )
            if agent_status == "waiting":
                action, risk, summary = GATED_ACTIONS[agent_type]
                store.db.execute("UPDATE miteos_agents SET current_tool = ? WHERE id = ?", (action, agent_id))
                store.db.execute(
                    "INSERT INTO miteos_approvals(id, agent_id, task_id, action, risk_level, summary, "
                    "status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (new_id(rng, "apr_"), agent_id, task_id, action, risk, summary, ago(3)),
                )
            if agent_status == "complete":
                filename, mime_type = DELIVERABLE_FILES[agent_type]
                store.db.execute(
                    "INSERT INTO miteos_deliverables(id, task_id, agent_id, filename, mime_type, body, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        new_id(rng, "dlvr_"),
                        task_id,
                        agent_id,
                        filename,
                        mime_type,
                        _deliverable_body(prompt, agent_type, mime_type),
                        ago(6),
                    ),
                )


def _seed_scale(store: MiteosStore, count: int) -> None:
    """``count`` finished deployments (for paging and table tests), spread over the past days."""
    ctx = store.ctx
    rng = ctx.rng
    rows = []
    for index in range(count):
        deployment_id = new_id(rng, "dep_")
        status = "failed" if rng.random() < DEPLOYMENT_FAILURE_RATE else "live"
        created = ctx.clock.iso(ctx.clock.epoch - timedelta(minutes=5 * (count - index)))
        rows.append(
            (
                deployment_id,
                f"ws_scale_{index % 50:02d}",
                TARGETS[index % len(TARGETS)],
                "cfg_scale",
                status,
                _preview_url(deployment_id) if status == "live" else None,
                DEPLOYMENT_ERRORS["building"] if status == "failed" else None,
                "building" if status == "failed" else None,
                created,
                created,
                created,
            )
        )
    store.db.executemany(
        "INSERT INTO miteos_deployments(id, workspace_id, target, config_id, status, url, error, "
        "failed_stage, sandbox, created_at, updated_at, completed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        rows,
    )
