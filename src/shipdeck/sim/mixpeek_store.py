"""Mixpeek Apps state in SQLite: apps, two environments each, versions, deploys, build logs, bundles.

The HTTP surface is in :mod:`shipdeck.sim.mixpeek`; this module holds what it means. Shapes follow the
contract (part B of ``miteos-mixpeek.md``) and are written here from scratch, never borrowed from the client.

* A deploy goes ``queued -> building -> complete | failed``. Its log lines and its outcome are a pure
  function of the stored bundle and of the failure planned when it was accepted (:func:`plan_build`), so a
  pipeline interrupted by a restart continues exactly where its stored lines stop.
* A successful deploy appends a version (max + 1) and points its environment at it. A restore points an
  environment at an existing version and records a ``complete`` deploy of kind ``restore``; no version is
  created.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import sqlite3
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shipdeck.sim.core import Database, SimClock

ENVIRONMENTS = ("production", "staging")
DEPLOY_STATUSES = ("queued", "building", "complete", "failed")
TERMINAL_STATUSES = frozenset({"complete", "failed"})
# Simulated seconds a deploy waits in the queue, and between two build log lines.
QUEUE_SECONDS = 1.0
LINE_SECONDS = 0.6
# Apps whose build_config says "flaky" fail this share of their builds (drawn from the rng when accepted).
FLAKY_FAILURE_RATE = 0.5
# The simulated bucket refuses larger uploads (so a build never sees one).
MAX_BUNDLE_BYTES = 20 * 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS mixpeek_apps (
    app_id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL, template TEXT,
    build_config TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mixpeek_environments (
    app_id TEXT NOT NULL REFERENCES mixpeek_apps(app_id), environment TEXT NOT NULL,
    version INTEGER, deploy_id TEXT, asset_prefix TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, environment)
);
CREATE TABLE IF NOT EXISTS mixpeek_versions (
    app_id TEXT NOT NULL REFERENCES mixpeek_apps(app_id), version INTEGER NOT NULL,
    source TEXT NOT NULL, content_hash TEXT NOT NULL, message TEXT NOT NULL, environment TEXT NOT NULL,
    deploy_id TEXT, asset_prefix TEXT NOT NULL, bundle_s3_key TEXT, created_by TEXT NOT NULL,
    created_at TEXT NOT NULL, manifest TEXT NOT NULL, source_files TEXT NOT NULL,
    git_commit_sha TEXT, git_author TEXT, git_branch TEXT,
    PRIMARY KEY (app_id, version)
);
CREATE TABLE IF NOT EXISTS mixpeek_deploys (
    deploy_id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES mixpeek_apps(app_id), seq INTEGER NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL, environment TEXT NOT NULL, source TEXT NOT NULL,
    bundle_s3_key TEXT, message TEXT, queued_at TEXT NOT NULL, queued_by TEXT NOT NULL,
    started_at TEXT, completed_at TEXT, error TEXT, smoke_test TEXT, version INTEGER,
    planned_failure TEXT, source_files TEXT NOT NULL, git_commit_sha TEXT, git_commit_message TEXT,
    git_author TEXT
);
CREATE INDEX IF NOT EXISTS mixpeek_deploys_by_app ON mixpeek_deploys(app_id, seq);
CREATE TABLE IF NOT EXISTS mixpeek_deploy_logs (
    deploy_id TEXT NOT NULL REFERENCES mixpeek_deploys(deploy_id), n INTEGER NOT NULL, ts REAL NOT NULL,
    line TEXT NOT NULL, PRIMARY KEY (deploy_id, n)
);
CREATE TABLE IF NOT EXISTS mixpeek_objects (
    key TEXT PRIMARY KEY, app_id TEXT NOT NULL, body BLOB NOT NULL, etag TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, content_type TEXT NOT NULL, last_modified TEXT NOT NULL
);
"""


class StoreError(Exception):
    """A request the state refuses; the HTTP layer turns it into the Mixpeek error envelope."""

    def __init__(self, status: int, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.details = details or {}


def not_found(resource: str, ident: str | int, message: str | None = None) -> StoreError:
    return StoreError(
        404,
        "NotFoundError",
        message or f"{resource.capitalize()} {ident} not found",
        {"id": ident, "resource": resource},
    )


def invalid(message: str, **details: Any) -> StoreError:
    return StoreError(422, "ValidationError", message, details)


# --------------------------------------------------------------------------------------------------- bundles


@dataclass(frozen=True)
class BuildPlan:
    """Everything a deploy's pipeline will print and end with, known from the moment it is accepted."""

    lines: tuple[str, ...]
    outcome: str  # complete | failed
    error: str | None
    manifest: dict[str, dict[str, Any]]


def read_bundle(data: bytes) -> dict[str, bytes]:
    """A zip's files with a single top-level folder stripped (the entry point is auto-detected upstream)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {
            info.filename: archive.read(info)
            for info in archive.infolist()
            if not info.is_dir() and not info.filename.startswith("__MACOSX/")
        }
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        prefix = next(iter(tops)) + "/"
        files = {name[len(prefix) :]: body for name, body in files.items()}
    return files


def manifest_of(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {
        path: {"hash": hashlib.sha256(body).hexdigest(), "size": len(body)}
        for path, body in sorted(files.items())
    }


def content_hash(manifest: dict[str, dict[str, Any]]) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan_build(bundle: bytes | None, planned_failure: str | None, url: str) -> BuildPlan:
    """The log lines and outcome of building ``bundle`` (documented sequence of the SSE page)."""
    lines = ["Downloading bundle from S3..."]
    if bundle is None:
        return _failed(lines, "bundle is no longer in storage")
    lines.append("Extracting bundle...")
    try:
        files = read_bundle(bundle)
    except (zipfile.BadZipFile, ValueError, OSError):
        return _failed(lines, "bundle is not a valid zip archive")
    lines.append("Validating bundle (index.html, size)...")
    if "index.html" not in files:
        return _failed(lines, "no index.html at the root of the bundle or in its single top-level folder")
    lines.append(f"Uploading {len(files)} assets to S3...")
    if planned_failure:
        return _failed(lines, planned_failure)
    lines.append(f"Running smoke test against {url}...")
    lines.append("Deploy complete!")
    return BuildPlan(tuple(lines), "complete", None, manifest_of(files))


def _failed(lines: list[str], reason: str) -> BuildPlan:
    return BuildPlan((*lines, f"Deploy failed: {reason}"), "failed", reason, {})


def make_zip(files: Mapping[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, body in files.items():
            archive.writestr(path, body)
    return buffer.getvalue()


def env_url(slug: str, environment: str) -> str:
    return f"https://{slug}.mxp.co" if environment == "production" else f"https://staging-{slug}.mxp.co"


# --------------------------------------------------------------------------------------------------- store


class MixpeekStore:
    """Reads and writes of the Mixpeek tables. Callers hold the transaction for multi-step changes."""

    def __init__(self, db: Database, clock: SimClock, rng: random.Random, *, build_seed: int = 0) -> None:
        self.db = db
        self.clock = clock
        # Seeding draws from the shared rng (it runs alone, before the server starts); a live deploy's
        # outcome is drawn from its own id and --rng-seed, so other providers' pipelines cannot shift it.
        self.rng = rng
        self.build_seed = build_seed

    # -- apps ----------------------------------------------------------------------------------------
    def app_row(self, app_id: str) -> sqlite3.Row:
        row = self.db.query_one("SELECT * FROM mixpeek_apps WHERE app_id = ?", (app_id,))
        if row is None:
            raise not_found("app", app_id)
        return row

    def count_apps(self, template: str | None) -> int:
        sql, params = "SELECT COUNT(*) AS n FROM mixpeek_apps", tuple[str, ...]()
        if template:
            sql, params = sql + " WHERE template = ?", (template,)
        row = self.db.query_one(sql, params)
        return int(row["n"]) if row else 0

    def list_apps(self, *, limit: int, offset: int, template: str | None) -> list[dict[str, Any]]:
        where = "WHERE template = ?" if template else ""
        params: tuple[Any, ...] = (template,) if template else ()
        rows = self.db.query(
            f"SELECT * FROM mixpeek_apps {where} ORDER BY created_at, app_id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self.app_json(row) for row in rows]

    def app_json(self, row: sqlite3.Row) -> dict[str, Any]:
        """The App, with what each environment serves and its latest deploy (a console lists in one call)."""
        environments = {}
        for environment in ENVIRONMENTS:
            pointer = self.environment_row(row["app_id"], environment)
            environments[environment] = {
                "version": pointer["version"] if pointer else None,
                "deploy_id": pointer["deploy_id"] if pointer else None,
                "asset_prefix": pointer["asset_prefix"] if pointer else None,
                "url": env_url(row["slug"], environment),
                "updated_at": pointer["updated_at"] if pointer else None,
                "latest_deploy": self._latest_deploy(row["app_id"], environment),
            }
        return {
            "app_id": row["app_id"],
            "slug": row["slug"],
            "name": row["name"],
            "template": row["template"],
            "url": env_url(row["slug"], "production"),
            "environments": environments,
            "latest_deploy": self._latest_deploy(row["app_id"], None),
            "build_config": json.loads(row["build_config"]),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def _latest_deploy(self, app_id: str, environment: str | None) -> dict[str, Any] | None:
        where, params = "WHERE app_id = ?", [app_id]
        if environment is not None:
            where += " AND environment = ?"
            params.append(environment)
        latest = self.db.query_one(
            "SELECT deploy_id, kind, status, environment, message, error, queued_at, completed_at"
            f" FROM mixpeek_deploys {where} ORDER BY seq DESC LIMIT 1",
            params,
        )
        return dict(latest) if latest else None

    def touch_app(self, app_id: str) -> None:
        self.db.execute(
            "UPDATE mixpeek_apps SET updated_at = ? WHERE app_id = ?", (self.clock.now_iso(), app_id)
        )

    def environment_row(self, app_id: str, environment: str) -> sqlite3.Row | None:
        return self.db.query_one(
            "SELECT * FROM mixpeek_environments WHERE app_id = ? AND environment = ?", (app_id, environment)
        )

    def point_environment(self, app_id: str, environment: str, version: int, deploy_id: str) -> None:
        row = self.version_row(app_id, version)
        self.db.execute(
            "INSERT OR REPLACE INTO mixpeek_environments"
            "(app_id, environment, version, deploy_id, asset_prefix, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (app_id, environment, version, deploy_id, row["asset_prefix"], self.clock.now_iso()),
        )
        self.touch_app(app_id)

    # -- versions ------------------------------------------------------------------------------------
    def version_row(self, app_id: str, version: int) -> sqlite3.Row:
        row = self.db.query_one(
            "SELECT * FROM mixpeek_versions WHERE app_id = ? AND version = ?", (app_id, version)
        )
        if row is None:
            raise not_found("version", version, f"App {app_id} has no version {version}")
        return row

    def list_versions(self, app_id: str, *, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM mixpeek_versions WHERE app_id = ? ORDER BY version DESC LIMIT ? OFFSET ?",
            (app_id, limit, offset),
        )
        return [self.version_json(row) for row in rows]

    def count_versions(self, app_id: str) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM mixpeek_versions WHERE app_id = ?", (app_id,))
        return int(row["n"]) if row else 0

    def version_json(self, row: sqlite3.Row) -> dict[str, Any]:
        live_in = [
            env["environment"]
            for env in self.db.query(
                "SELECT environment FROM mixpeek_environments WHERE app_id = ? AND version = ?"
                " ORDER BY environment",
                (row["app_id"], row["version"]),
            )
        ]
        manifest = json.loads(row["manifest"])
        return {
            "version": row["version"],
            "app_id": row["app_id"],
            "source": row["source"],
            "content_hash": row["content_hash"],
            "message": row["message"],
            "environment": row["environment"],
            "deploy_id": row["deploy_id"],
            "asset_prefix": row["asset_prefix"],
            "created_by": row["created_by"],
            "created_at": row["created_at"],
            "git_commit_sha": row["git_commit_sha"],
            "git_author": row["git_author"],
            "git_branch": row["git_branch"],
            "file_count": len(manifest),
            "size_bytes": sum(int(entry["size"]) for entry in manifest.values()),
            "live_in": live_in,
        }

    def add_version(self, deploy: sqlite3.Row, manifest: dict[str, dict[str, Any]]) -> int:
        row = self.db.query_one(
            "SELECT COALESCE(MAX(version), 0) + 1 AS n FROM mixpeek_versions WHERE app_id = ?",
            (deploy["app_id"],),
        )
        number = int(row["n"]) if row else 1
        digest = content_hash(manifest)
        self.db.execute(
            "INSERT INTO mixpeek_versions(app_id, version, source, content_hash, message, environment,"
            " deploy_id, asset_prefix, bundle_s3_key, created_by, created_at, manifest, source_files,"
            " git_commit_sha, git_author, git_branch)"
            " VALUES (?, ?, 'deploy', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (
                deploy["app_id"],
                number,
                digest,
                deploy["message"] or "",
                deploy["environment"],
                deploy["deploy_id"],
                f"apps/{deploy['app_id']}/v{number}-{digest[:12]}/",
                deploy["bundle_s3_key"],
                deploy["queued_by"],
                self.clock.now_iso(),
                json.dumps(manifest),
                deploy["source_files"],
                deploy["git_commit_sha"],
                deploy["git_author"],
            ),
        )
        return number

    def diff(self, app_id: str, from_version: int, to_version: int) -> dict[str, Any]:
        old, new = self.version_row(app_id, from_version), self.version_row(app_id, to_version)
        old_files, new_files = json.loads(old["manifest"]), json.loads(new["manifest"])
        files = []
        summary = {"added": 0, "removed": 0, "modified": 0, "unchanged": 0}
        for path in sorted(set(old_files) | set(new_files)):
            before, after = old_files.get(path), new_files.get(path)
            if before is None:
                status = "added"
            elif after is None:
                status = "removed"
            elif before["hash"] != after["hash"]:
                status = "modified"
            else:
                status = "unchanged"
            summary[status] += 1
            if status == "unchanged":
                continue
            old_size = before["size"] if before else 0
            new_size = after["size"] if after else 0
            files.append(
                {
                    "path": path,
                    "status": status,
                    "old_hash": before["hash"] if before else None,
                    "new_hash": after["hash"] if after else None,
                    "old_size": old_size,
                    "new_size": new_size,
                    "size_delta": new_size - old_size,
                }
            )
        answer: dict[str, Any] = {
            "app_id": app_id,
            "from_version": from_version,
            "to_version": to_version,
            "files": files,
            "summary": summary,
        }
        old_sources, new_sources = json.loads(old["source_files"]), json.loads(new["source_files"])
        if old_sources and new_sources:
            answer["source_diff"] = source_diff(old_sources, new_sources)
        return answer

    # -- deploys -------------------------------------------------------------------------------------
    def deploy_row(self, app_id: str, deploy_id: str) -> sqlite3.Row:
        row = self.db.query_one(
            "SELECT * FROM mixpeek_deploys WHERE deploy_id = ? AND app_id = ?", (deploy_id, app_id)
        )
        if row is None:
            raise not_found("deploy", deploy_id)
        return row

    def deploy_json(self, row: sqlite3.Row) -> dict[str, Any]:
        smoke = row["smoke_test"]
        return {
            "deploy_id": row["deploy_id"],
            "app_id": row["app_id"],
            "kind": row["kind"],
            "status": row["status"],
            "environment": row["environment"],
            "source": row["source"],
            "bundle_s3_key": row["bundle_s3_key"],
            "message": row["message"],
            "queued_at": row["queued_at"],
            "queued_by": row["queued_by"],
            "started_at": row["started_at"],
            "completed_at": row["completed_at"],
            "error": row["error"],
            "smoke_test": json.loads(smoke) if smoke else None,
            "version": row["version"],
            "git_commit_sha": row["git_commit_sha"],
            "git_author": row["git_author"],
        }

    def list_deploys(
        self, app_id: str, *, environment: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = "WHERE app_id = ?", [app_id]
        if environment:
            where += " AND environment = ?"
            params.append(environment)
        count = self.db.query_one(f"SELECT COUNT(*) AS n FROM mixpeek_deploys {where}", params)
        rows = self.db.query(
            f"SELECT * FROM mixpeek_deploys {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self.deploy_json(row) for row in rows], int(count["n"]) if count else 0

    def next_deploy_id(self, app_id: str) -> str:
        return self._next_deploy(app_id)[0]

    def _next_deploy(self, app_id: str) -> tuple[str, int]:
        row = self.db.query_one("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM mixpeek_deploys", ())
        seq = int(row["n"]) if row else 1
        digest = hashlib.sha256(f"{app_id}:{seq}".encode()).hexdigest()[:12]
        return f"dep_{digest}", seq

    def insert_deploy(
        self,
        app_id: str,
        *,
        kind: str,
        environment: str,
        message: str | None,
        queued_by: str,
        status: str = "queued",
        source: str = "cli_upload",
        bundle_s3_key: str | None = None,
        planned_failure: str | None = None,
        source_files: dict[str, str] | None = None,
        git: dict[str, str | None] | None = None,
        version: int | None = None,
    ) -> str:
        deploy_id, seq = self._next_deploy(app_id)
        now = self.clock.now_iso()
        terminal = status in TERMINAL_STATUSES
        git = git or {}
        self.db.execute(
            "INSERT INTO mixpeek_deploys(deploy_id, app_id, seq, kind, status, environment, source,"
            " bundle_s3_key, message, queued_at, queued_by, started_at, completed_at, error, smoke_test,"
            " version, planned_failure, source_files, git_commit_sha, git_commit_message, git_author)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?)",
            (
                deploy_id,
                app_id,
                seq,
                kind,
                status,
                environment,
                source,
                bundle_s3_key,
                message,
                now,
                queued_by,
                now if terminal else None,
                now if terminal else None,
                version,
                planned_failure,
                json.dumps(source_files or {}),
                git.get("git_commit_sha"),
                git.get("git_commit_message"),
                git.get("git_author"),
            ),
        )
        return deploy_id

    def plan_failure(self, app_id: str, deploy_id: str) -> str | None:
        """Decided when a deploy is accepted: flaky apps fail some builds, deterministically per deploy."""
        config = json.loads(self.app_row(app_id)["build_config"])
        draw = random.Random(f"mixpeek:{self.build_seed}:{deploy_id}").random()
        if config.get("flaky") and draw < FLAKY_FAILURE_RATE:
            return "asset upload timed out after 3 attempts"
        return None

    def build_plan(self, deploy: sqlite3.Row) -> BuildPlan:
        slug = self.app_row(deploy["app_id"])["slug"]
        bundle = self.object_body(deploy["bundle_s3_key"]) if deploy["bundle_s3_key"] else None
        return plan_build(bundle, deploy["planned_failure"], env_url(slug, deploy["environment"]))

    def log_lines(self, deploy_id: str, after: int = -1) -> list[sqlite3.Row]:
        return self.db.query(
            "SELECT n, ts, line FROM mixpeek_deploy_logs WHERE deploy_id = ? AND n > ? ORDER BY n",
            (deploy_id, after),
        )

    def append_log(self, deploy_id: str, line: str, at: datetime | None = None) -> None:
        row = self.db.query_one(
            "SELECT COALESCE(MAX(n), -1) + 1 AS n FROM mixpeek_deploy_logs WHERE deploy_id = ?", (deploy_id,)
        )
        moment = at or self.clock.now()
        self.db.execute(
            "INSERT INTO mixpeek_deploy_logs(deploy_id, n, ts, line) VALUES (?, ?, ?, ?)",
            (deploy_id, int(row["n"]) if row else 0, moment.timestamp(), line),
        )

    def start_build(self, deploy_id: str) -> None:
        self.db.execute(
            "UPDATE mixpeek_deploys SET status = 'building', started_at = ?"
            " WHERE deploy_id = ? AND status = 'queued'",
            (self.clock.now_iso(), deploy_id),
        )

    def finish_deploy(self, deploy: sqlite3.Row, plan: BuildPlan) -> None:
        """The end of a build: a new version live in its environment, or the failure recorded."""
        now = self.clock.now_iso()
        if plan.outcome == "failed":
            self.db.execute(
                "UPDATE mixpeek_deploys SET status = 'failed', completed_at = ?, error = ?"
                " WHERE deploy_id = ?",
                (now, plan.error, deploy["deploy_id"]),
            )
            self.touch_app(deploy["app_id"])
            return
        number = self.add_version(deploy, plan.manifest)
        slug = self.app_row(deploy["app_id"])["slug"]
        smoke = {
            "passed": True,
            "url": env_url(slug, deploy["environment"]),
            "errors": [],
            "duration_ms": 180 + int(hashlib.sha256(deploy["deploy_id"].encode()).digest()[0]),
            "tested_at": now,
        }
        self.db.execute(
            "UPDATE mixpeek_deploys SET status = 'complete', completed_at = ?, version = ?, smoke_test = ?"
            " WHERE deploy_id = ?",
            (now, number, json.dumps(smoke), deploy["deploy_id"]),
        )
        self.point_environment(deploy["app_id"], deploy["environment"], number, deploy["deploy_id"])

    def in_progress(self) -> list[str]:
        rows = self.db.query(
            "SELECT deploy_id FROM mixpeek_deploys WHERE status IN ('queued', 'building') ORDER BY seq"
        )
        return [row["deploy_id"] for row in rows]

    def restore(self, app_id: str, version: int, environment: str, queued_by: str) -> dict[str, Any]:
        row = self.version_row(app_id, version)
        deploy_id = self.insert_deploy(
            app_id,
            kind="restore",
            environment=environment,
            message=f"Restore v{version} to {environment}",
            queued_by=queued_by,
            status="complete",
            source="restore",
            version=version,
        )
        self.append_log(deploy_id, f"Restoring version {version} to {environment}...")
        self.append_log(deploy_id, "Deploy complete!")
        self.point_environment(app_id, environment, version, deploy_id)
        return {
            "app_id": app_id,
            "version": version,
            "deploy_id": deploy_id,
            "environment": environment,
            "asset_prefix": row["asset_prefix"],
        }

    def previous_version(self, app_id: str, environment: str) -> int:
        """The version before the one ``environment`` serves (what the legacy rollback restores)."""
        current = self.environment_row(app_id, environment)
        if current is None or current["version"] is None:
            raise StoreError(409, "ConflictError", f"App {app_id} has nothing deployed to {environment}")
        row = self.db.query_one(
            "SELECT MAX(version) AS v FROM mixpeek_versions WHERE app_id = ? AND version < ?",
            (app_id, current["version"]),
        )
        if row is None or row["v"] is None:
            raise StoreError(
                409,
                "ConflictError",
                f"App {app_id} has no version before v{current['version']} to roll {environment} back to",
            )
        return int(row["v"])

    # -- objects (the simulated S3 bucket) ----------------------------------------------------------
    def put_object(self, key: str, app_id: str, body: bytes, content_type: str) -> str:
        etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        self.db.execute(
            "INSERT OR REPLACE INTO mixpeek_objects"
            "(key, app_id, body, etag, size_bytes, content_type, last_modified)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, app_id, body, etag, len(body), content_type, self.clock.now_iso()),
        )
        return etag

    def object_row(self, key: str) -> sqlite3.Row | None:
        return self.db.query_one(
            "SELECT key, app_id, etag, size_bytes, content_type, last_modified FROM mixpeek_objects"
            " WHERE key = ?",
            (key,),
        )

    def object_body(self, key: str) -> bytes | None:
        row = self.db.query_one("SELECT body FROM mixpeek_objects WHERE key = ?", (key,))
        return bytes(row["body"]) if row else None


def source_diff(old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    import difflib

    out = {}
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path, ""), new.get(path, "")
        if before == after:
            continue
        out[path] = "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
            )
        )
    return out


# --------------------------------------------------------------------------------------------------- seed


@dataclass(frozen=True)
class SeedApp:
    slug: str
    name: str
    template: str
    messages: tuple[str, ...]
    # Version each environment ends on (1-based into the successful deploys), None: never deployed there.
    production: int | None
    staging: int | None
    flaky: bool = False


DEMO_APPS = (
    SeedApp(
        "storefront",
        "Storefront",
        "ecommerce",
        (
            "feat: product grid",
            "fix: cart badge count",
            "feat: new search UI",
            "perf: lazy-load hero images",
            "feat: checkout redesign",
            "fix: checkout total rounding",
        ),
        production=4,
        staging=6,
    ),
    SeedApp(
        "docs-portal",
        "Docs Portal",
        "docs",
        ("docs: getting started", "docs: API reference", "feat: dark mode", "fix: broken anchor links"),
        production=4,
        staging=3,
    ),
    SeedApp(
        "status-page",
        "Status Page",
        "dashboard",
        ("feat: incident banner", "feat: uptime chart", "fix: timezone of incident times"),
        production=2,
        staging=3,
    ),
    SeedApp(
        "legacy-portal",
        "Legacy Portal",
        "custom",
        ("chore: initial import", "fix: login redirect loop"),
        production=1,
        staging=None,
        flaky=True,
    ),
)

SEED_AUTHORS = ("alice@example.com", "bob@example.com", "carol@example.com")


def seed_demo(store: MixpeekStore, epoch: datetime) -> None:
    """Apps with production and staging histories, anchored to ``epoch`` and drawn from the store's rng."""
    rng = store.rng
    for index, spec in enumerate(DEMO_APPS):
        app_id = "app_" + hashlib.sha256(f"mixpeek-demo:{spec.slug}".encode()).hexdigest()[:12]
        start = epoch - timedelta(days=30 - index)
        config = {
            "env_vars": {"PUBLIC_API_BASE": f"https://api.example.com/{spec.slug}"},
            "flaky": spec.flaky,
        }
        iso = SimClock.iso
        store.db.execute(
            "INSERT INTO mixpeek_apps(app_id, slug, name, template, build_config, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (app_id, spec.slug, spec.name, spec.template, json.dumps(config), iso(start), iso(start)),
        )
        moment = start
        files = {
            "index.html": f"<h1>{spec.name}</h1>",
            "assets/app.js": "console.log(1)",
            "assets/app.css": "body{}",
        }
        for number, message in enumerate(spec.messages, start=1):
            moment += timedelta(hours=rng.randrange(6, 60))
            # A failed attempt (from the rng) before some successful ones, as real histories have.
            if rng.random() < 0.25:
                _seed_deploy(store, app_id, spec, moment, message, None, "failed", rng)
                moment += timedelta(minutes=rng.randrange(5, 40))
            files = {**files, "assets/app.js": f"console.log({number}); // {message}"}
            if number % 2 == 0:
                files[f"assets/chunk-{number}.js"] = f"export const n = {number};"
            _seed_deploy(store, app_id, spec, moment, message, dict(files), "complete", rng)
        for environment, target in (("production", spec.production), ("staging", spec.staging)):
            if target is None:
                continue
            moment += timedelta(minutes=rng.randrange(10, 120))
            last = store.environment_row(app_id, environment)
            if last is None or last["version"] != target:
                _seed_restore(store, app_id, target, environment, moment, rng)


def _seed_deploy(
    store: MixpeekStore,
    app_id: str,
    spec: SeedApp,
    moment: datetime,
    message: str,
    files: dict[str, str] | None,
    status: str,
    rng: random.Random,
) -> None:
    """One historical deploy, alternating staging and production as a team working in both would."""
    environment = "production" if spec.staging is None or rng.random() < 0.5 else "staging"
    author = rng.choice(SEED_AUTHORS)
    with _clock_at(store, moment):
        deploy_id = store.insert_deploy(
            app_id,
            kind="deploy",
            environment=environment,
            message=message,
            queued_by=author,
            status="building",
            source_files={"src/App.jsx": f"export default () => <h1>{message}</h1>;\n"},
        )
        bundle = make_zip(files) if files else make_zip({"README.md": "no entry point"})
        key = f"app-builds/{app_id}/seed-{deploy_id}/bundle.zip"
        store.put_object(key, app_id, bundle, "application/zip")
        store.db.execute("UPDATE mixpeek_deploys SET bundle_s3_key = ? WHERE deploy_id = ?", (key, deploy_id))
        plan = plan_build(bundle, None, env_url(spec.slug, environment))
        for offset, line in enumerate(plan.lines):
            store.append_log(deploy_id, line, moment + timedelta(seconds=offset * LINE_SECONDS))
        store.finish_deploy(store.deploy_row(app_id, deploy_id), plan)
        if status == "complete" and spec.staging is not None and environment == "staging":
            # Promoted to production after a while in staging.
            number = store.deploy_row(app_id, deploy_id)["version"]
            if number is not None and rng.random() < 0.7:
                store.restore(app_id, int(number), "production", author)


def _seed_restore(
    store: MixpeekStore, app_id: str, version: int, environment: str, moment: datetime, rng: random.Random
) -> None:
    with _clock_at(store, moment):
        store.restore(app_id, version, environment, rng.choice(SEED_AUTHORS))


@contextlib.contextmanager
def _clock_at(store: MixpeekStore, moment: datetime) -> Iterator[None]:
    """Temporarily run the store's clock at a past moment, so seeded rows carry historical times."""
    saved = store.clock
    store.clock = _FrozenClock(moment)
    try:
        yield
    finally:
        store.clock = saved


class _FrozenClock(SimClock):
    def __init__(self, moment: datetime) -> None:
        super().__init__(moment, 1.0)

    def now(self) -> datetime:
        return self.epoch
