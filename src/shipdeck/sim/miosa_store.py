"""Miosa state in SQLite and what changes it: deployments, versions, releases, builds, domains, env,
pipelines.

Each object is kept as its JSON document (only the fields that differ from the defaults below are stored, so a
50,000-deployment seed stays small) beside the columns that are filtered or ordered on. Shapes follow
``contract/miosa.md`` section 5 and the house decisions; every field the official Python SDK requires is
always present. HTTP lives in :mod:`shipdeck.sim.miosa`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipdeck.sim import metrics
from shipdeck.sim.core import Database, Refusal, SimContext

PROVIDER = "miosa"
TENANT_ID = "ten_demo"
TENANT_SLUG = "acme"

DEPLOYMENT_STATES = ("pending", "building", "running", "stopped", "failed")
VERSION_STATES = ("created", "building", "ready", "failed", "archived")
BUILD_STATES = ("queued", "building", "succeeded", "failed", "cancelled")
DOMAIN_STATES = ("pending", "verified", "active", "failed", "removed")
ENVIRONMENTS = ("production", "preview", "development")
TERMINAL_BUILD_STATES = frozenset({"succeeded", "failed", "cancelled"})
FAILURE_RATE = 0.2

SCHEMA = """
CREATE TABLE IF NOT EXISTS miosa_deployments (
    ord INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, slug TEXT NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS miosa_versions (
    ord INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, deployment_id TEXT NOT NULL,
    promote_on_ready INTEGER NOT NULL DEFAULT 1, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS miosa_versions_by_deployment ON miosa_versions(deployment_id, ord);
CREATE TABLE IF NOT EXISTS miosa_releases (
    ord INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, deployment_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS miosa_releases_by_deployment ON miosa_releases(deployment_id, ord);
CREATE TABLE IF NOT EXISTS miosa_builds (
    ord INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, deployment_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS miosa_builds_by_deployment ON miosa_builds(deployment_id, ord);
CREATE TABLE IF NOT EXISTS miosa_domains (
    ord INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, deployment_id TEXT NOT NULL,
    domain TEXT NOT NULL UNIQUE, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS miosa_domains_by_deployment ON miosa_domains(deployment_id, ord);
CREATE TABLE IF NOT EXISTS miosa_build_logs (
    build_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, stream TEXT NOT NULL, line TEXT NOT NULL,
    PRIMARY KEY (build_id, seq)
);
CREATE TABLE IF NOT EXISTS miosa_env (
    deployment_id TEXT NOT NULL, environment TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (deployment_id, environment, name)
);
"""

TABLES = {
    "deployment": "miosa_deployments",
    "version": "miosa_versions",
    "release": "miosa_releases",
    "build": "miosa_builds",
    "domain": "miosa_domains",
}

# The full shape of each object; stored documents hold only what differs.
DEFAULTS: dict[str, dict[str, Any]] = {
    "deployment": {
        "tenant_id": TENANT_ID,
        "owner_id": "usr_demo_admin",
        "workspace_id": "ws_demo",
        "project_id": None,
        "repo_url": None,
        "repo_provider": "github",
        "branch": "main",
        "build_command": "npm run build",
        "run_command": "npm start",
        "runtime_image": None,
        "current_build_id": None,
        "active_version_id": None,
        "active_release_id": None,
        "running_artifact_sha256": None,
        "source_type": "sandbox",
        "auto_deploy": True,
        "custom_domain_id": None,
        "linked_database_id": None,
        "deployment_product": "miosa_deploy",
        "docker_deploy_host_id": None,
        "docker_deploy_app": None,
        "metadata": {},
        "external_workspace_id": None,
        "external_user_id": None,
        "external_project_id": None,
        "public_url": None,
        "auto_subdomain": None,
    },
    "version": {
        "tenant_id": TENANT_ID,
        "workspace_id": "ws_demo",
        "project_id": None,
        "created_by": "usr_demo_admin",
        "source_sandbox_id": None,
        "build_id": None,
        "kind": "static",
        "artifact_uri": None,
        "artifact_manifest": {},
        "artifact_sha256": None,
        "runtime_image": None,
        "runtime_command": None,
        "runtime_port": None,
        "health_check_path": None,
        "build_log_uri": None,
        "metadata": {},
        "promoted_at": None,
        "archived_at": None,
        "external_workspace_id": None,
        "external_user_id": None,
        "external_project_id": None,
    },
    "release": {
        "tenant_id": TENANT_ID,
        "environment_id": "env_production",
        "service_id": None,
        "workspace_id": "ws_demo",
        "project_id": None,
        "source_sandbox_id": None,
        "kind": "static",
        "state": "ready",
        "artifact_manifest": {},
        "storage_backend": "sim",
        "start_command": None,
        "port": None,
        "health_check_path": None,
        "build_log_uri": None,
        "metadata": {},
        "archived_at": None,
        "external_workspace_id": None,
        "external_user_id": None,
        "external_project_id": None,
    },
    "build": {
        "commit_sha": None,
        "commit_message": None,
        "triggered_by": "manual",
        "started_at": None,
        "finished_at": None,
        "duration_ms": None,
        "log_url": None,
        "image_digest": None,
        "error_message": None,
        "external_workspace_id": None,
        "external_user_id": None,
        "external_project_id": None,
    },
    "domain": {
        "tenant_id": TENANT_ID,
        "redirect_policy": "none",
        "failure_reason": None,
        "verified_at": None,
        "instructions": None,
    },
}

FAILURE_REASONS = (
    'Build script exited with code 2: npm ERR! Missing script: "build"',
    "Out of memory while bundling (heap limit 512 MB)",
    "Health check failed: GET / returned 502 after 30s",
    "Dependency resolution failed: peer react@18 conflicts with react@19",
    "Type check failed: 3 errors in src/app/page.tsx",
)


class ApiError(Refusal):
    """A refusal in the Miosa error shape (raised anywhere in a handler, rendered by the route wrapper)."""

    provider = PROVIDER


def not_found(kind: str, object_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No {kind} {object_id!r}.", {"id": object_id})


def new_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{rng.getrandbits(64):016x}"


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:60] or "app"


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def mask(value: str) -> str:
    """The only form in which an env value ever leaves the server."""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:3]}...{value[-3:]}"


def encode_cursor(ord_value: int) -> str:
    return base64.urlsafe_b64encode(f"o:{ord_value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("o:") or not text[2:].isdigit():
        raise ApiError(
            422, "VALIDATION_FAILED", "cursor is not one this server returned.", {"field": "cursor"}
        )
    return int(text[2:])


def compact(kind: str, doc: dict[str, Any]) -> str:
    defaults = DEFAULTS[kind]
    return json.dumps(
        {k: v for k, v in doc.items() if k not in defaults or defaults[k] != v}, separators=(",", ":")
    )


def _expand(kind: str, stored: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(stored)
    # id first, for whoever reads the raw JSON.
    return {"id": doc["id"], **json.loads(json.dumps(DEFAULTS[kind])), **doc}


@dataclass(frozen=True)
class BuildPlan:
    """What a build will do, decided from --rng-seed and the version alone (so a restart replays it)."""

    lines: list[tuple[str, str]]  # (stream, text)
    delays: list[float]  # simulated seconds before each line
    failure: str | None


BUILD_STEPS = (
    ("stdout", "Cloning sandbox snapshot {source}"),
    ("stdout", "Detected framework: Next.js 15 (static export)"),
    ("stdout", "Restoring build cache (412 MB)"),
    ("stdout", "$ npm ci"),
    ("stdout", "added 1,284 packages in 18s"),
    ("stdout", "$ npm run build"),
    ("stdout", "Creating an optimized production build ..."),
    ("stderr", "warn  - Browserslist: caniuse-lite is outdated"),
    ("stdout", "Compiled successfully in 41s"),
    ("stdout", "Collecting page data ..."),
    ("stdout", "Generating static pages (24/24)"),
    ("stdout", "Uploading artifact ({size} files)"),
)


def build_plan(rng_seed: int, deployment_id: str, version_number: int, source: str) -> BuildPlan:
    rng = random.Random(f"{rng_seed}:{deployment_id}:{version_number}")
    count = rng.randint(8, len(BUILD_STEPS))
    lines = [
        (stream, text.format(source=source, size=rng.randint(40, 400)))
        for stream, text in BUILD_STEPS[:count]
    ]
    failure = rng.choice(FAILURE_REASONS) if rng.random() < FAILURE_RATE else None
    if failure:
        lines.append(("stderr", f"error: {failure}"))
    else:
        lines.append(("stdout", f"Build complete: version {version_number} is ready"))
    delays = [round(rng.uniform(0.5, 2.5), 2) for _ in lines]
    return BuildPlan(lines, delays, failure)


class MiosaStore:
    """All reads and writes of the Miosa tables. Mutating methods expect to run inside a transaction."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.db: Database = ctx.db

    # -- generic documents -----------------------------------------------------------------------------------
    def get(self, kind: str, object_id: str, deployment_id: str | None = None) -> dict[str, Any]:
        sql = f"SELECT doc FROM {TABLES[kind]} WHERE id = ?"
        params: tuple[Any, ...] = (object_id,)
        if deployment_id is not None and kind != "deployment":
            sql += " AND deployment_id = ?"
            params += (deployment_id,)
        row = self.db.query_one(sql, params)
        if row is None:
            raise not_found(kind, object_id)
        return _expand(kind, row["doc"])

    def insert(self, kind: str, doc: dict[str, Any], **columns: Any) -> dict[str, Any]:
        if kind == "deployment":
            columns.setdefault("slug", doc["slug"])
        else:
            columns.setdefault("deployment_id", doc["deployment_id"])
        names = ["id", "doc", *columns]
        self.db.execute(
            f"INSERT INTO {TABLES[kind]}({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            (doc["id"], compact(kind, doc), *columns.values()),
        )
        return doc

    def save(self, kind: str, doc: dict[str, Any]) -> dict[str, Any]:
        doc["updated_at"] = self.ctx.clock.now_iso()
        self.db.execute(f"UPDATE {TABLES[kind]} SET doc = ? WHERE id = ?", (compact(kind, doc), doc["id"]))
        return doc

    def page(
        self, kind: str, where: str, params: tuple[Any, ...], limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; ``next_cursor`` is None on the last page."""
        clauses = [where] if where else []
        args = list(params)
        if cursor:
            clauses.append("ord < ?")
            args.append(decode_cursor(cursor))
        sql = f"SELECT ord, doc FROM {TABLES[kind]}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = self.db.query(sql + " ORDER BY ord DESC LIMIT ?", (*args, limit + 1))
        next_cursor = encode_cursor(rows[limit - 1]["ord"]) if len(rows) > limit else None
        return [_expand(kind, row["doc"]) for row in rows[:limit]], next_cursor

    def children(self, kind: str, deployment_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            f"SELECT doc FROM {TABLES[kind]} WHERE deployment_id = ? ORDER BY ord DESC", (deployment_id,)
        )
        return [_expand(kind, row["doc"]) for row in rows]

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        self.ctx.events.append(PROVIDER, type_, data)

    # -- deployments -----------------------------------------------------------------------------------------
    def unique_slug(self, name: str) -> str:
        base = slugify(name)
        slug, n = base, 1
        while self.db.query_one("SELECT 1 FROM miosa_deployments WHERE slug = ?", (slug,)) is not None:
            n += 1
            slug = f"{base}-{n}"
        return slug

    def new_deployment(self, fields: dict[str, Any], created_at: str | None = None) -> dict[str, Any]:
        now = created_at or self.ctx.clock.now_iso()
        slug = self.unique_slug(fields["name"])
        doc = {
            **json.loads(json.dumps(DEFAULTS["deployment"])),
            "state": "pending",
            **fields,
            "id": new_id(self.ctx.rng, "dep"),
            "slug": slug,
            "auto_subdomain": f"https://{slug}.{TENANT_SLUG}.miosa.app",
            "created_at": now,
            "updated_at": now,
        }
        product = doc["metadata"].get("deployment_product") if isinstance(doc["metadata"], dict) else None
        if isinstance(product, str):
            doc["deployment_product"] = product
        return self.insert("deployment", doc)

    def set_deployment_state(self, deployment: dict[str, Any], state: str) -> None:
        previous = deployment["state"]
        if previous == state:
            return
        deployment["state"] = state
        self.save("deployment", deployment)
        self.emit(
            "deployment.state_changed",
            {"deployment_id": deployment["id"], "from": previous, "to": state, "deployment": deployment},
        )

    def delete_deployment(self, deployment_id: str) -> None:
        self.get("deployment", deployment_id)
        builds = [
            row["id"]
            for row in self.db.query("SELECT id FROM miosa_builds WHERE deployment_id = ?", (deployment_id,))
        ]
        self.db.executemany("DELETE FROM miosa_build_logs WHERE build_id = ?", [(b,) for b in builds])
        for table in ("miosa_versions", "miosa_releases", "miosa_builds", "miosa_domains", "miosa_env"):
            self.db.execute(f"DELETE FROM {table} WHERE deployment_id = ?", (deployment_id,))
        self.db.execute("DELETE FROM miosa_deployments WHERE id = ?", (deployment_id,))
        self.emit("deployment.updated", {"deployment_id": deployment_id, "deleted": True})

    # -- versions, builds, releases --------------------------------------------------------------------------
    def next_version_number(self, deployment_id: str) -> int:
        row = self.db.query_one(
            "SELECT doc FROM miosa_versions WHERE deployment_id = ? ORDER BY ord DESC LIMIT 1",
            (deployment_id,),
        )
        return 1 if row is None else int(_expand("version", row["doc"])["version_number"]) + 1

    def start_publish(
        self, deployment: dict[str, Any], fields: dict[str, Any], *, promote: bool, triggered_by: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new version (created) and its build (queued); the caller spawns :meth:`run_pipeline`."""
        now = self.ctx.clock.now_iso()
        number = self.next_version_number(deployment["id"])
        build_id = new_id(self.ctx.rng, "bld")
        version = {
            **json.loads(json.dumps(DEFAULTS["version"])),
            **fields,
            "state": "created",
            "id": new_id(self.ctx.rng, "ver"),
            "deployment_id": deployment["id"],
            "version_number": number,
            "build_id": build_id,
            "build_log_uri": f"/api/v1/deployments/{deployment['id']}/builds/{build_id}/logs",
            "created_at": now,
            "updated_at": now,
        }
        build = {
            **json.loads(json.dumps(DEFAULTS["build"])),
            "id": build_id,
            "deployment_id": deployment["id"],
            "version_id": version["id"],
            "state": "queued",
            "triggered_by": triggered_by,
            "commit_sha": sha256_of(f"{deployment['id']}:{number}")[:40],
            "commit_message": f"Publish v{number}",
            "log_url": version["build_log_uri"],
            "created_at": now,
        }
        self.insert("version", version, promote_on_ready=int(promote))
        self.insert("build", build)
        deployment["current_build_id"] = build_id
        self.save("deployment", deployment)
        self.emit(
            "version.created",
            {"deployment_id": deployment["id"], "version_id": version["id"], "version": version},
        )
        return version, build

    def version_by_number_before(self, deployment_id: str, number: int) -> dict[str, Any] | None:
        """The newest ready version older than ``number``."""
        for version in self.children("version", deployment_id):
            if version["version_number"] < number and version["state"] == "ready":
                return version
        return None

    def set_version_state(self, version: dict[str, Any], state: str, **changes: Any) -> None:
        previous = version["state"]
        version.update(changes, state=state)
        self.save("version", version)
        self.emit(
            "version.state_changed",
            {
                "deployment_id": version["deployment_id"],
                "version_id": version["id"],
                "from": previous,
                "to": state,
                "version": version,
            },
        )

    def release_for(self, version: dict[str, Any]) -> dict[str, Any]:
        row = self.db.query_one(
            "SELECT doc FROM miosa_releases "
            "WHERE deployment_id = ? AND json_extract(doc, '$.deployment_version_id') = ?",
            (version["deployment_id"], version["id"]),
        )
        if row is not None:
            return _expand("release", row["doc"])
        now = self.ctx.clock.now_iso()
        release = {
            **json.loads(json.dumps(DEFAULTS["release"])),
            "id": new_id(self.ctx.rng, "rel"),
            "deployment_id": version["deployment_id"],
            "deployment_version_id": version["id"],
            "build_id": version["build_id"],
            "kind": version["kind"] if version["kind"] == "static" else "oci",
            "artifact_uri": version["artifact_uri"],
            "artifact_sha256": version["artifact_sha256"],
            "storage_uri": version["artifact_uri"],
            "sha256": version["artifact_sha256"],
            "size_bytes": int((version["artifact_sha256"] or "0")[:5], 16) * 37 + 20_000,
            "ready_at": now,
            "created_at": now,
            "updated_at": now,
        }
        return self.insert("release", release)

    def activate(
        self, deployment: dict[str, Any], version: dict[str, Any], *, rolled_back: bool = False
    ) -> None:
        """Point the deployment at a ready version (promote or rollback) and say so in the event log."""
        if version["state"] != "ready":
            raise ApiError(
                409,
                "VERSION_NOT_READY",
                f"Version {version['version_number']} is {version['state']}; "
                "only ready versions can be promoted.",
                {"version_id": version["id"], "state": version["state"]},
            )
        release = self.release_for(version)
        previous = deployment["active_version_id"]
        now = self.ctx.clock.now_iso()
        version["promoted_at"] = now
        self.save("version", version)
        deployment.update(
            active_version_id=version["id"],
            active_release_id=release["id"],
            running_artifact_sha256=version["artifact_sha256"],
            public_url=deployment["auto_subdomain"],
        )
        self.save("deployment", deployment)
        metrics.record_switch(self.db, PROVIDER, deployment["id"], version["id"], self.ctx.clock.now())
        common = {"deployment_id": deployment["id"], "version_id": version["id"], "from_version_id": previous}
        self.emit(
            "deployment.rolled_back" if rolled_back else "version.promoted", {**common, "version": version}
        )
        self.set_deployment_state(deployment, "running")
        self.emit("deployment.updated", {"deployment_id": deployment["id"], "deployment": deployment})

    # -- build logs ------------------------------------------------------------------------------------------
    def log_count(self, build_id: str) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM miosa_build_logs WHERE build_id = ?", (build_id,))
        return int(row["n"]) if row else 0

    def append_log(self, build: dict[str, Any], stream: str, line: str) -> None:
        seq = self.log_count(build["id"]) + 1
        ts = self.ctx.clock.now_iso()
        self.db.execute(
            "INSERT INTO miosa_build_logs(build_id, seq, ts, stream, line) VALUES (?, ?, ?, ?, ?)",
            (build["id"], seq, ts, stream, line),
        )
        self.emit(
            "build.log",
            {
                "deployment_id": build["deployment_id"],
                "build_id": build["id"],
                "version_id": build.get("version_id"),
                "seq": seq,
                "stream": stream,
                "line": line,
                "ts": ts,
            },
        )

    def log_lines(self, build_id: str, after: int, limit: int = 500) -> list[Any]:
        return self.db.query(
            "SELECT seq, ts, stream, line FROM miosa_build_logs "
            "WHERE build_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (build_id, after, limit),
        )

    # -- the pipeline ----------------------------------------------------------------------------------------
    async def run_pipeline(self, version_id: str) -> None:
        """Version created -> building -> ready | failed, its build queued -> building -> succeeded | failed;
        then promote.

        Resumable: each step looks at what is already stored, so a restart continues where it stopped.
        """
        clock = self.ctx.clock
        version = self.get("version", version_id)
        plan = build_plan(
            self.ctx.options.rng_seed,
            version["deployment_id"],
            version["version_number"],
            version["source_sandbox_id"] or "main",
        )
        build = self.get("build", version["build_id"])
        if build["state"] == "queued":
            await clock.sleep(1.5)
            with self.db.transaction():
                build = self.get("build", build["id"])
                build.update(state="building", started_at=clock.now_iso())
                self.save("build", build)
                self.set_version_state(self.get("version", version_id), "building")
                self.set_deployment_state(self.get("deployment", version["deployment_id"]), "building")
        for index in range(self.log_count(build["id"]), len(plan.lines)):
            await clock.sleep(plan.delays[index])
            with self.db.transaction():
                self.append_log(build, *plan.lines[index])
        with self.db.transaction():
            self._finish(version_id, plan)

    def _finish(self, version_id: str, plan: BuildPlan) -> None:
        clock = self.ctx.clock
        version = self.get("version", version_id)
        build = self.get("build", version["build_id"])
        deployment = self.get("deployment", version["deployment_id"])
        now = clock.now()
        started = build["started_at"] or build["created_at"]
        duration = max(0, int((now - _parse_iso(started)).total_seconds() * 1000))
        build.update(finished_at=clock.iso(now), duration_ms=duration)
        if plan.failure:
            build.update(state="failed", error_message=plan.failure)
            self.save("build", build)
            self.set_version_state(
                version, "failed", metadata={**version["metadata"], "failure_reason": plan.failure}
            )
            self.set_deployment_state(deployment, "running" if deployment["active_version_id"] else "failed")
            return
        sha = sha256_of(f"{version['id']}:{version['version_number']}")
        build.update(state="succeeded", image_digest=f"sha256:{sha}")
        self.save("build", build)
        self.set_version_state(
            version,
            "ready",
            artifact_sha256=sha,
            artifact_uri=f"sim://artifacts/{deployment['slug']}/v{version['version_number']}.tar.gz",
            artifact_manifest={"files": int(sha[:3], 16) % 300 + 40, "entrypoint": "index.html"},
        )
        self.release_for(version)
        row = self.db.query_one("SELECT promote_on_ready FROM miosa_versions WHERE id = ?", (version_id,))
        if row is not None and row["promote_on_ready"]:
            self.activate(deployment, version)
        else:
            self.set_deployment_state(deployment, "running" if deployment["active_version_id"] else "pending")

    def unfinished_versions(self) -> list[str]:
        rows = self.db.query(
            "SELECT id FROM miosa_versions "
            "WHERE json_extract(doc, '$.state') IN ('created', 'building') ORDER BY ord"
        )
        return [str(row["id"]) for row in rows]


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
