"""Miteos state in SQLite: deployments, tasks, agents, approvals, deliverables, and their lifecycles.

The HTTP surface is in :mod:`shipdeck.sim.miteos` and the event socket in :mod:`shipdeck.sim.miteos_ws`; this
module holds what the state means. Shapes follow part A of the Miteos contract and its house decisions and are
written here from scratch, never borrowed from the client.

* A deployment goes ``pending -> building -> deploying -> live | failed``. Whether (and at which stage) it
  fails is decided from the rng when it is accepted (a ``config_id`` containing ``fail`` always fails), so a
  pipeline interrupted by a restart continues to the same end.
* A task goes ``pending -> planning -> running -> complete | failed`` (``paused`` while every working agent is
  paused; ``cancelled`` on cancel). While it runs, one agent acts per tick: ``thinking -> acting`` emits
  ``agent.action``, ``acting -> thinking`` emits ``agent.thinking``. An agent may stop at an approval
  (``waiting``, ``approval.required``) once, and produces a deliverable when it completes. A task whose prompt
  contains ``fail`` fails part way (``agent.error``, ``task.failed``).
"""

from __future__ import annotations

import json
import random
import sqlite3
from typing import Any

from shipdeck.sim.core import Refusal, SimContext

PROVIDER = "miteos"

TARGETS = ("vercel", "netlify", "cloudflare", "expo")
DEPLOYMENT_STATUSES = ("pending", "building", "deploying", "live", "failed")
DEPLOYMENT_TERMINAL = frozenset({"live", "failed"})
# Simulated seconds spent in each non-terminal stage, and the next stage on success.
DEPLOYMENT_STAGE_SECONDS = {"pending": 3.0, "building": 12.0, "deploying": 6.0}
DEPLOYMENT_NEXT = {"pending": "building", "building": "deploying", "deploying": "live"}
DEPLOYMENT_FAILURE_RATE = 0.25
DEPLOYMENT_ERRORS = {
    "building": "Build failed: `npm run build` exited with code 1",
    "deploying": "Upload to the hosting provider failed: artifact rejected (quota exceeded)",
}

TASK_STATUSES = ("pending", "planning", "running", "paused", "complete", "failed", "cancelled")
TASK_ACTIVE = frozenset({"pending", "planning", "running", "paused"})
AGENT_WORKING = frozenset({"thinking", "acting"})
AGENT_TERMINAL = frozenset({"complete", "error", "killed"})
# Simulated seconds before planning starts, spent planning, and between two agent steps of one task.
TASK_PENDING_SECONDS = 2.0
TASK_PLANNING_SECONDS = 4.0
TASK_TICK_SECONDS = 4.0
DEFAULT_TASK_CONFIG: dict[str, Any] = {
    "max_agents": 3,
    "autonomy_level": 70,
    "auto_deploy": False,
    "deploy_target": None,
}
MAX_AGENTS = 8
# Progress points an agent gains per action: user tasks finish in a few minutes of simulated time. Pace 0 (the
# demo's running tasks) gains one point every SLOW_PACE_STEPS steps, so that they trickle events for hours.
TASK_PACE = (8, 15)
SLOW_PACE_STEPS = 5
MODEL_USED = "miteos-large-2"

AGENT_TYPES = ("researcher", "builder", "analyst", "email", "social")
TOOLS: dict[str, tuple[str, ...]] = {
    "researcher": ("web_search", "browser.navigate", "read_page"),
    "builder": ("code.execute", "write_file", "run_tests"),
    "analyst": ("query_data", "code.execute", "make_chart"),
    "email": ("email.draft", "read_inbox"),
    "social": ("draft_post", "read_feed"),
}
# The gated action each agent type may stop at, with its risk level.
GATED_ACTIONS: dict[str, tuple[str, str, str]] = {
    "researcher": ("submit_form", "medium", "Submit the contact form on the vendor site"),
    "builder": ("deploy_production", "critical", "Deploy the built site to production"),
    "analyst": ("delete_rows", "critical", "Delete 212 duplicate rows from the ledger table"),
    "email": ("send_email", "high", "Send the summary email to 14 recipients"),
    "social": ("publish_post", "high", "Publish the announcement post on the company account"),
}
THOUGHTS = (
    "Breaking the goal into smaller steps",
    "Comparing the sources found so far",
    "Checking the previous result for mistakes",
    "Deciding which tool to use next",
    "Summarising what is known so far",
)
DELIVERABLE_FILES: dict[str, tuple[str, str]] = {
    "researcher": ("research-notes.md", "text/markdown"),
    "builder": ("build-report.md", "text/markdown"),
    "analyst": ("analysis.csv", "text/csv"),
    "email": ("email-draft.txt", "text/plain"),
    "social": ("posts.md", "text/markdown"),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS miteos_deployments (
    id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, target TEXT NOT NULL, config_id TEXT NOT NULL,
    status TEXT NOT NULL, url TEXT, error TEXT, failed_stage TEXT, planned_failure TEXT,
    sandbox INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, completed_at TEXT
);
CREATE INDEX IF NOT EXISTS miteos_deployments_by_time ON miteos_deployments(created_at);
CREATE TABLE IF NOT EXISTS miteos_tasks (
    id TEXT PRIMARY KEY, prompt TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL, workspace_id TEXT,
    pace INTEGER NOT NULL, fails INTEGER NOT NULL, step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, completed_at TEXT
);
CREATE INDEX IF NOT EXISTS miteos_tasks_by_time ON miteos_tasks(created_at);
CREATE TABLE IF NOT EXISTS miteos_agents (
    id TEXT PRIMARY KEY, task_id TEXT NOT NULL REFERENCES miteos_tasks(id), n INTEGER NOT NULL,
    type TEXT NOT NULL, prompt TEXT NOT NULL, status TEXT NOT NULL, paused_status TEXT, current_tool TEXT,
    progress INTEGER NOT NULL, tokens_used INTEGER NOT NULL, approval_at INTEGER, fail_at INTEGER,
    guidance TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS miteos_agents_by_task ON miteos_agents(task_id, n);
CREATE TABLE IF NOT EXISTS miteos_approvals (
    id TEXT PRIMARY KEY, agent_id TEXT NOT NULL REFERENCES miteos_agents(id), task_id TEXT NOT NULL,
    action TEXT NOT NULL, risk_level TEXT NOT NULL, summary TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT, created_at TEXT NOT NULL, answered_at TEXT
);
CREATE TABLE IF NOT EXISTS miteos_deliverables (
    id TEXT PRIMARY KEY, task_id TEXT NOT NULL REFERENCES miteos_tasks(id), agent_id TEXT NOT NULL,
    filename TEXT NOT NULL, mime_type TEXT NOT NULL, body BLOB NOT NULL, created_at TEXT NOT NULL
);
"""

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class Refused(Refusal):
    """A request the state refuses (404, 409, 422); the HTTP layer answers ``{"detail": message}``."""

    provider = PROVIDER

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, "REFUSED", message)


def new_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(_ID_ALPHABET) for _ in range(24))


class MiteosStore:
    """Reads and changes of the Miteos tables. Stateless: build one wherever a SimContext is at hand.

    Every method that changes state must run inside ``ctx.db.transaction()`` (the callers' transaction, or its
    own); events are appended in the same transaction.
    """

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.db = ctx.db

    def _now(self) -> str:
        return self.ctx.clock.now_iso()

    def _emit(self, type_: str, data: dict[str, Any]) -> None:
        self.ctx.events.append(PROVIDER, type_, data)

    # ------------------------------------------------------------------------------------------ deployments

    def create_deployment(self, workspace_id: str, target: str, config_id: str, *, sandbox: bool) -> str:
        rng = self.ctx.rng
        deployment_id = new_id(rng, "dep_")
        # Whether it fails is drawn from a stream of its own (the seed, the workspace and how many deployments
        # it had), not the shared one that background activity also draws from: the same --rng-seed and the
        # same requests give the same outcomes, however busy the machine was meanwhile.
        earlier = self.db.execute(
            "SELECT COUNT(*) FROM miteos_deployments WHERE workspace_id = ?", (workspace_id,)
        ).fetchone()[0]
        fate = random.Random(f"{self.ctx.options.rng_seed}:miteos-deploy:{workspace_id}:{target}:{earlier}")
        if "fail" in config_id.lower() or fate.random() < DEPLOYMENT_FAILURE_RATE:
            planned_failure: str | None = fate.choice(("building", "deploying"))
        else:
            planned_failure = None
        now = self._now()
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO miteos_deployments(id, workspace_id, target, config_id, status, "
                "planned_failure, sandbox, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                (deployment_id, workspace_id, target, config_id, planned_failure, int(sandbox), now, now),
            )
            self._emit("deployment.started", self.deployment_json(deployment_id))
        return deployment_id

    def _deployment_row(self, deployment_id: str) -> sqlite3.Row:
        row = self.db.query_one("SELECT * FROM miteos_deployments WHERE id = ?", (deployment_id,))
        if row is None:
            raise Refused(404, f"Deployment {deployment_id} not found")
        return row

    def deployment_json(self, deployment_id: str) -> dict[str, Any]:
        return _deployment_json(self._deployment_row(deployment_id))

    def list_deployments(self, filters: dict[str, str], limit: int, offset: int) -> tuple[list[Any], int]:
        where, params = _where(filters)
        total = self.db.query_one(f"SELECT COUNT(*) AS n FROM miteos_deployments{where}", params)
        rows = self.db.query(
            f"SELECT * FROM miteos_deployments{where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_deployment_json(row) for row in rows], int(total["n"]) if total else 0

    def advance_deployment(self, deployment_id: str) -> str | None:
        """Move a deployment one stage on; its new status, or None if it is gone or already finished."""
        row = self.db.query_one("SELECT * FROM miteos_deployments WHERE id = ?", (deployment_id,))
        if row is None or row["status"] in DEPLOYMENT_TERMINAL:
            return None
        current = str(row["status"])
        now = self._now()
        with self.db.transaction():
            if row["planned_failure"] == current:
                self.db.execute(
                    "UPDATE miteos_deployments SET status = 'failed', error = ?, failed_stage = ?, "
                    "updated_at = ?, completed_at = ? WHERE id = ?",
                    (DEPLOYMENT_ERRORS.get(current, "Deployment failed"), current, now, now, deployment_id),
                )
                new_status = "failed"
            else:
                new_status = DEPLOYMENT_NEXT[current]
                url = _deployment_url(row) if new_status == "live" else None
                completed = now if new_status in DEPLOYMENT_TERMINAL else None
                self.db.execute(
                    "UPDATE miteos_deployments SET status = ?, url = ?, updated_at = ?, completed_at = ? "
                    "WHERE id = ?",
                    (new_status, url, now, completed, deployment_id),
                )
            self._emit(f"deployment.{new_status}", self.deployment_json(deployment_id))
        return new_status

    async def run_deployment(self, deployment_id: str) -> None:
        """The pipeline of one deployment in simulated time (also resumes one interrupted by a restart)."""
        while True:
            row = self.db.query_one("SELECT status FROM miteos_deployments WHERE id = ?", (deployment_id,))
            if row is None or row["status"] in DEPLOYMENT_TERMINAL:
                return
            await self.ctx.clock.sleep(DEPLOYMENT_STAGE_SECONDS[str(row["status"])])
            self.advance_deployment(deployment_id)

    # ------------------------------------------------------------------------------------------ tasks

    def create_task(self, prompt: str, workspace_id: str | None, config: dict[str, Any]) -> str:
        rng = self.ctx.rng
        task_id = new_id(rng, "task_")
        now = self._now()
        with self.db.transaction():
            self.insert_task(task_id, prompt, "pending", config, workspace_id, rng.randint(*TASK_PACE), now)
            self._emit("task.created", {"task_id": task_id, "status": "pending"})
        return task_id

    def insert_task(
        self,
        task_id: str,
        prompt: str,
        status: str,
        config: dict[str, Any],
        workspace_id: str | None,
        pace: int,
        created_at: str,
        completed_at: str | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO miteos_tasks(id, prompt, status, config, workspace_id, pace, fails, created_at, "
            "updated_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task_id,
                prompt,
                status,
                json.dumps(config),
                workspace_id,
                pace,
                int("fail" in prompt.lower()),
                created_at,
                created_at,
                completed_at,
            ),
        )

    def _task_row(self, task_id: str) -> sqlite3.Row:
        row = self.db.query_one("SELECT * FROM miteos_tasks WHERE id = ?", (task_id,))
        if row is None:
            raise Refused(404, f"Task {task_id} not found")
        return row

    def _agents(self, task_id: str) -> list[sqlite3.Row]:
        return self.db.query("SELECT * FROM miteos_agents WHERE task_id = ? ORDER BY n", (task_id,))

    def _pending_approvals(self, task_id: str) -> dict[str, dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM miteos_approvals WHERE task_id = ? AND status = 'pending' ORDER BY created_at, id",
            (task_id,),
        )
        return {str(row["agent_id"]): _approval_json(row) for row in rows}

    def task_json(self, task_id: str) -> dict[str, Any]:
        return self._task_json(self._task_row(task_id))

    def _task_json(self, task: sqlite3.Row) -> dict[str, Any]:
        agents = self._agents(str(task["id"]))
        approvals = self._pending_approvals(str(task["id"]))
        tokens = sum(int(agent["tokens_used"]) for agent in agents)
        return {
            "id": task["id"],
            "prompt": task["prompt"],
            "status": task["status"],
            "config": json.loads(task["config"]),
            "workspace_id": task["workspace_id"],
            "total_tokens_used": tokens,
            "total_cost_cents": tokens // 500,
            "created_at": task["created_at"],
            "updated_at": task["updated_at"],
            "completed_at": task["completed_at"],
            "subtasks": [_subtask_json(agent) for agent in agents],
            "agents": [_agent_json(agent, approvals.get(str(agent["id"]))) for agent in agents],
            "approvals": list(approvals.values()),
        }

    def list_tasks(self, filters: dict[str, str], limit: int, offset: int) -> tuple[list[Any], int]:
        where, params = _where(filters)
        total = self.db.query_one(f"SELECT COUNT(*) AS n FROM miteos_tasks{where}", params)
        rows = self.db.query(
            f"SELECT * FROM miteos_tasks{where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [self._task_json(row) for row in rows], int(total["n"]) if total else 0

    def cancel_task(self, task_id: str) -> None:
        task = self._task_row(task_id)
        if task["status"] not in TASK_ACTIVE:
            raise Refused(409, f"Task {task_id} is {task['status']}; only unfinished tasks can be cancelled")
        with self.db.transaction():
            for agent in self._agents(task_id):
                if agent["status"] not in AGENT_TERMINAL:
                    self._set_agent(str(agent["id"]), status="killed", current_tool=None, paused_status=None)
                    self._close_approvals(str(agent["id"]), "cancelled")
            self._set_task_status(task_id, "cancelled")

    def _set_task_status(self, task_id: str, status: str) -> None:
        now = self._now()
        completed = now if status not in TASK_ACTIVE else None
        self.db.execute(
            "UPDATE miteos_tasks SET status = ?, updated_at = ?, completed_at = ? WHERE id = ?",
            (status, now, completed, task_id),
        )
        self._emit(f"task.{status}", {"task_id": task_id, "status": status})

    async def run_task(self, task_id: str) -> None:
        """The lifecycle of one task in simulated time (also resumes one interrupted by a restart)."""
        while True:
            row = self.db.query_one("SELECT status FROM miteos_tasks WHERE id = ?", (task_id,))
            if row is None or row["status"] not in TASK_ACTIVE:
                return
            delay = {"pending": TASK_PENDING_SECONDS, "planning": TASK_PLANNING_SECONDS}
            await self.ctx.clock.sleep(delay.get(str(row["status"]), TASK_TICK_SECONDS))
            self.tick_task(task_id)

    def tick_task(self, task_id: str) -> None:
        """One step of a task: start planning, start the agents, or move one working agent on."""
        task = self.db.query_one("SELECT * FROM miteos_tasks WHERE id = ?", (task_id,))
        if task is None:
            return
        with self.db.transaction():
            if task["status"] == "pending":
                self._set_task_status(task_id, "planning")
            elif task["status"] == "planning":
                self._start_agents(task)
                self._set_task_status(task_id, "running")
            elif task["status"] == "running":
                working = [agent for agent in self._agents(task_id) if agent["status"] in AGENT_WORKING]
                if working:
                    self.db.execute("UPDATE miteos_tasks SET step = step + 1 WHERE id = ?", (task_id,))
                    self._step_agent(task, working[int(task["step"]) % len(working)])

    def _start_agents(self, task: sqlite3.Row) -> None:
        rng = self.ctx.rng
        config = json.loads(task["config"])
        autonomy = int(config.get("autonomy_level", DEFAULT_TASK_CONFIG["autonomy_level"]))
        count = int(config.get("max_agents", DEFAULT_TASK_CONFIG["max_agents"]))
        types = ["researcher", *rng.sample(AGENT_TYPES[1:], k=min(count, len(AGENT_TYPES)) - 1)]
        types += [rng.choice(AGENT_TYPES) for _ in range(count - len(types))]
        now = self._now()
        for n, agent_type in enumerate(types):
            # Lower autonomy asks earlier; full autonomy (>= 80) never asks. The first agent of a task that
            # will fail is the one that fails.
            asks = autonomy < 80 and (n == 0 or rng.random() < 0.3)
            approval_at = min(90, autonomy // 2 + rng.randint(1, 10)) if asks else None
            fail_at = 30 if n == 0 and task["fails"] else None
            self.db.execute(
                "INSERT INTO miteos_agents(id, task_id, n, type, prompt, status, progress, tokens_used, "
                "approval_at, fail_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'thinking', 0, 0, ?, ?, ?, ?)",
                (
                    new_id(rng, "agnt_"),
                    task["id"],
                    n,
                    agent_type,
                    f"{agent_type.capitalize()} part of: {task['prompt'][:200]}",
                    approval_at,
                    fail_at,
                    now,
                    now,
                ),
            )

    def _step_agent(self, task: sqlite3.Row, agent: sqlite3.Row) -> None:
        rng = self.ctx.rng
        agent_id = str(agent["id"])
        task_id = str(task["id"])
        if agent["status"] == "acting":
            if int(agent["progress"]) >= 100:
                self._set_agent(agent_id, status="complete", current_tool=None)
                self._emit("agent.thinking", self._agent_event(agent_id, thought="Work finished"))
                self._add_deliverable(task, agent)
                self._settle_task(task_id)
            else:
                thought = rng.choice(THOUGHTS)
                guidance = agent["guidance"]
                if guidance:
                    thought = f"Following the operator's guidance: {guidance}"
                    self._set_agent(agent_id, guidance=None)
                self._set_agent(agent_id, status="thinking", current_tool=None)
                self._emit("agent.thinking", self._agent_event(agent_id, thought=thought))
            return
        progress = int(agent["progress"])
        if agent["fail_at"] is not None and progress >= int(agent["fail_at"]):
            self._fail_task(task_id, agent_id, "The tool returned an unrecoverable error (HTTP 500)")
            return
        if agent["approval_at"] is not None and progress >= int(agent["approval_at"]):
            self._request_approval(task_id, agent)
            return
        tool = rng.choice(TOOLS[str(agent["type"])])
        tokens = rng.randint(200, 1500)
        self.db.execute(
            "UPDATE miteos_agents SET status = 'acting', current_tool = ?, "
            "progress = MIN(100, progress + ?), tokens_used = tokens_used + ?, updated_at = ? WHERE id = ?",
            (tool, _progress_gain(task), tokens, self._now(), agent_id),
        )
        self._emit(
            "agent.action",
            self._agent_event(agent_id, tool=tool, input=f"step {task['step'] + 1}", output="ok"),
        )

    def _request_approval(self, task_id: str, agent: sqlite3.Row) -> None:
        action, risk, summary = GATED_ACTIONS[str(agent["type"])]
        approval_id = new_id(self.ctx.rng, "apr_")
        self.db.execute(
            "INSERT INTO miteos_approvals(id, agent_id, task_id, action, risk_level, summary, status, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (approval_id, agent["id"], task_id, action, risk, summary, self._now()),
        )
        self.db.execute("UPDATE miteos_agents SET approval_at = NULL WHERE id = ?", (agent["id"],))
        self._set_agent(str(agent["id"]), status="waiting", current_tool=action)
        self._emit(
            "approval.required",
            {
                "task_id": task_id,
                "agent_id": agent["id"],
                "approval_id": approval_id,
                "action": action,
                "risk_level": risk,
                "summary": summary,
            },
        )

    def _fail_task(self, task_id: str, agent_id: str, error: str) -> None:
        self._set_agent(agent_id, status="error", current_tool=None)
        self._emit("agent.error", self._agent_event(agent_id, error=error))
        for other in self._agents(task_id):
            if other["status"] not in AGENT_TERMINAL:
                self._set_agent(str(other["id"]), status="killed", current_tool=None, paused_status=None)
                self._close_approvals(str(other["id"]), "cancelled")
        self._set_task_status(task_id, "failed")

    def _add_deliverable(self, task: sqlite3.Row, agent: sqlite3.Row) -> None:
        filename, mime_type = DELIVERABLE_FILES[str(agent["type"])]
        body = _deliverable_body(str(task["prompt"]), str(agent["type"]), mime_type)
        deliverable_id = new_id(self.ctx.rng, "dlvr_")
        self.db.execute(
            "INSERT INTO miteos_deliverables(id, task_id, agent_id, filename, mime_type, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (deliverable_id, task["id"], agent["id"], filename, mime_type, body, self._now()),
        )
        self._emit(
            "deliverable.created",
            {
                "task_id": task["id"],
                "agent_id": agent["id"],
                "deliverable_id": deliverable_id,
                "filename": filename,
                "mime_type": mime_type,
                "size_bytes": len(body),
            },
        )

    def _settle_task(self, task_id: str) -> None:
        """After an agent changed: finish the task, or pause / unpause it with its agents."""
        task = self._task_row(task_id)
        agents = self._agents(task_id)
        unfinished = [agent for agent in agents if agent["status"] not in AGENT_TERMINAL]
        if task["status"] not in ("running", "paused"):
            return
        if not unfinished:
            finished = any(agent["status"] == "complete" for agent in agents)
            self._set_task_status(task_id, "complete" if finished else "cancelled")
        elif all(agent["status"] == "paused" for agent in unfinished):
            if task["status"] == "running":
                self._set_task_status(task_id, "paused")
        elif task["status"] == "paused":
            self._set_task_status(task_id, "running")

    # ------------------------------------------------------------------------------------------ agents

    def _agent_row(self, agent_id: str) -> sqlite3.Row:
        row = self.db.query_one("SELECT * FROM miteos_agents WHERE id = ?", (agent_id,))
        if row is None:
            raise Refused(404, f"Agent {agent_id} not found")
        return row

    def agent_json(self, agent_id: str) -> dict[str, Any]:
        agent = self._agent_row(agent_id)
        approvals = self._pending_approvals(str(agent["task_id"]))
        return _agent_json(agent, approvals.get(agent_id))

    def _agent_event(self, agent_id: str, **extra: Any) -> dict[str, Any]:
        agent = self._agent_row(agent_id)
        return {
            "task_id": agent["task_id"],
            "agent_id": agent_id,
            "agent_type": agent["type"],
            "status": agent["status"],
            "progress": agent["progress"],
            **extra,
        }

    def _set_agent(self, agent_id: str, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(
            f"UPDATE miteos_agents SET {assignments}, updated_at = ? WHERE id = ?",
            [*fields.values(), self._now(), agent_id],
        )

    def _close_approvals(self, agent_id: str, status: str) -> None:
        self.db.execute(
            "UPDATE miteos_approvals SET status = ?, answered_at = ? "
            "WHERE agent_id = ? AND status = 'pending'",
            (status, self._now(), agent_id),
        )

    def _live_agent(self, agent_id: str, verb: str) -> sqlite3.Row:
        agent = self._agent_row(agent_id)
        if agent["status"] in AGENT_TERMINAL:
            raise Refused(409, f"Agent {agent_id} is {agent['status']}; a finished agent cannot be {verb}")
        return agent

    def pause_agent(self, agent_id: str) -> None:
        agent = self._live_agent(agent_id, "paused")
        if agent["status"] == "paused":
            raise Refused(409, f"Agent {agent_id} is already paused")
        with self.db.transaction():
            self._set_agent(agent_id, status="paused", paused_status=agent["status"])
            self._emit("agent.paused", self._agent_event(agent_id))
            self._settle_task(str(agent["task_id"]))

    def resume_agent(self, agent_id: str) -> None:
        agent = self._live_agent(agent_id, "resumed")
        if agent["status"] != "paused":
            raise Refused(409, f"Agent {agent_id} is {agent['status']}; only a paused agent can resume")
        with self.db.transaction():
            self._set_agent(agent_id, status=agent["paused_status"] or "thinking", paused_status=None)
            self._emit("agent.resumed", self._agent_event(agent_id))
            self._settle_task(str(agent["task_id"]))

    def cancel_agent(self, agent_id: str) -> None:
        agent = self._live_agent(agent_id, "cancelled")
        with self.db.transaction():
            self._set_agent(agent_id, status="killed", current_tool=None, paused_status=None)
            self._close_approvals(agent_id, "cancelled")
            self._emit("agent.cancelled", self._agent_event(agent_id))
            self._settle_task(str(agent["task_id"]))

    def guide_agent(self, agent_id: str, instructions: str) -> None:
        self._live_agent(agent_id, "guided")
        with self.db.transaction():
            self._set_agent(agent_id, guidance=instructions)
            self._emit("agent.guided", self._agent_event(agent_id, instructions=instructions))

    def answer_approval(self, agent_id: str, approval_id: str, approved: bool, reason: str | None) -> None:
        agent = self._agent_row(agent_id)
        approval = self.db.query_one(
            "SELECT * FROM miteos_approvals WHERE id = ? AND agent_id = ?", (approval_id, agent_id)
        )
        if approval is None:
            raise Refused(404, f"Approval {approval_id} not found for agent {agent_id}")
        if approval["status"] != "pending":
            raise Refused(409, f"Approval {approval_id} was already answered ({approval['status']})")
        with self.db.transaction():
            self.db.execute(
                "UPDATE miteos_approvals SET status = ?, reason = ?, answered_at = ? WHERE id = ?",
                ("approved" if approved else "rejected", reason, self._now(), approval_id),
            )
            resumed_status = "acting" if approved else "thinking"
            if agent["status"] == "paused":
                self._set_agent(agent_id, paused_status=resumed_status)
            elif approved:
                self._set_agent(agent_id, status="acting", current_tool=approval["action"])
            else:
                self._set_agent(agent_id, status="thinking", current_tool=None)
            if approved:
                self._emit(
                    "agent.action",
                    self._agent_event(
                        agent_id, tool=approval["action"], approval_id=approval_id, output="approved"
                    ),
                )
            else:
                thought = "The operator rejected the action; revising the approach"
                self._emit(
                    "agent.thinking",
                    self._agent_event(agent_id, thought=f"{thought}: {reason}" if reason else thought),
                )

    # ------------------------------------------------------------------------------------------ deliverables

    def list_deliverables(self, task_id: str) -> list[sqlite3.Row]:
        self._task_row(task_id)
        return self.db.query(
            "SELECT id, task_id, agent_id, filename, mime_type, LENGTH(body) AS size_bytes, created_at "
            "FROM miteos_deliverables WHERE task_id = ? ORDER BY created_at, id",
            (task_id,),
        )

    def deliverable(self, task_id: str, deliverable_id: str) -> sqlite3.Row:
        row = self.db.query_one(
            "SELECT * FROM miteos_deliverables WHERE id = ? AND task_id = ?", (deliverable_id, task_id)
        )
        if row is None:
            raise Refused(404, f"Deliverable {deliverable_id} not found in task {task_id}")
        return row

    # ------------------------------------------------------------------------------------------ lifecycle

    def resume_all(self) -> None:
        """Restart the pipelines and task lifecycles that were in progress."""
        for row in self.db.query("SELECT id FROM miteos_deployments WHERE status NOT IN ('live', 'failed')"):
            self.ctx.spawn(self.run_deployment(str(row["id"])))
        active = ", ".join(f"'{status}'" for status in sorted(TASK_ACTIVE))
        for row in self.db.query(f"SELECT id FROM miteos_tasks WHERE status IN ({active})"):
            self.ctx.spawn(self.run_task(str(row["id"])))


# ---------------------------------------------------------------------------------------------- shapes


def _progress_gain(task: sqlite3.Row) -> int:
    pace = int(task["pace"])
    return pace if pace > 0 else int(int(task["step"]) % SLOW_PACE_STEPS == 0)


def _where(filters: dict[str, str]) -> tuple[str, list[str]]:
    if not filters:
        return "", []
    return " WHERE " + " AND ".join(f"{name} = ?" for name in filters), list(filters.values())


def _deployment_url(row: sqlite3.Row) -> str:
    # mt_test_ keys deploy in sandbox mode: nothing reaches the host and the URL is a preview stub.
    if row["sandbox"]:
        return _preview_url(str(row["id"]))
    return f"https://{row['workspace_id'].replace('_', '-')}-{row['id'][-8:]}.{row['target']}.example"


def _preview_url(deployment_id: str) -> str:
    return f"https://{deployment_id.replace('_', '-')}.preview.miteos.test"


def _deployment_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "workspace_id": row["workspace_id"],
        "target": row["target"],
        "config_id": row["config_id"],
        "status": row["status"],
        "url": row["url"],
        "error": row["error"],
        "failed_stage": row["failed_stage"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "completed_at": row["completed_at"],
    }


def _approval_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "agent_id": row["agent_id"],
        "task_id": row["task_id"],
        "action": row["action"],
        "risk_level": row["risk_level"],
        "summary": row["summary"],
        "status": row["status"],
        "created_at": row["created_at"],
    }


def _agent_json(row: sqlite3.Row, pending_approval: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "task_id": row["task_id"],
        "type": row["type"],
        "status": row["status"],
        "current_tool": row["current_tool"],
        "progress": row["progress"],
        "tokens_used": row["tokens_used"],
        "model_used": MODEL_USED,
        "pending_approval": pending_approval,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


_SUBTASK_STATUS = {"complete": "complete", "error": "failed", "killed": "cancelled", "paused": "paused"}


def _subtask_json(agent: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": f"st-{int(agent['n']) + 1}",
        "agent_type": agent["type"],
        "prompt": agent["prompt"],
        "status": _SUBTASK_STATUS.get(str(agent["status"]), "running"),
        "tokens_used": agent["tokens_used"],
        "model_used": MODEL_USED,
    }


def deliverable_json(row: sqlite3.Row, download_url: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "task_id": row["task_id"],
        "agent_id": row["agent_id"],
        "filename": row["filename"],
        "mime_type": row["mime_type"],
        "size_bytes": row["size_bytes"],
        "download_url": download_url,
        "created_at": row["created_at"],
    }


def _deliverable_body(prompt: str, agent_type: str, mime_type: str) -> bytes:
    if mime_type == "text/csv":
        return b"item,count,share\nduplicates,212,0.04\nmatched,4870,0.96\n"
    return (
        f"# {agent_type.capitalize()} deliverable\n\nTask: {prompt}\n\n"
        "- What was done: the steps in the task's timeline\n- Open questions: none\n"
    ).encode()
