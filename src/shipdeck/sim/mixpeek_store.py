"""Mixpeek Apps state in SQLite: apps, two environments each, versions, deploys, build logs, bundles.

The HTTP surface is in :mod:`shipdeck.sim.mixpeek`; this module holds what it means. Shapes are those of the
official SDK, ``mixpeek==1.3.783`` (its ``AppsApi`` models: ``AppResponse``, ``AppListItem``,
``VersionRecord``, ``VersionDetailResponse``, ``DeployStatusResponse``, ``DomainResponse``, ...), where it
disagrees with the contract (part B of ``miteos-mixpeek.md``); they are written here from scratch, never
borrowed from the client.

* A deploy goes ``queued -> building -> complete | failed``. Its log lines and its outcome are a pure
  function of the stored bundle and of the failure planned when it was accepted (:func:`plan_build`), so a
  pipeline interrupted by a restart continues exactly where its stored lines stop.
* A successful deploy appends a version (max + 1) and points its environment at it. A restore points an
  environment at an existing version and records a ``complete`` deploy of kind ``restore``; no version is
  created.
* A promote copies what staging serves to production (``POST /promote``); a publish snapshots the production
  config as a new version (``POST /publish``).
* A custom domain is ``pending`` until verification starts, then ``verifying`` (the TXT record is looked up),
  ``provisioning_tls`` and ``active``, derived from when verification started; a name containing ``fail``
  never leaves ``verifying`` (its TXT record is never found), as the real worker keeps polling for 72 hours.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import sqlite3
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from shipdeck.sim.core import Database, Refusal, SimClock, mixpeek_error

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
# Simulated seconds from "verify" to the TXT record found (provisioning_tls), and to the certificate (active).
DOMAIN_DNS_SECONDS = 2.0
DOMAIN_TLS_SECONDS = 2.0
CNAME_TARGET = "apps.mxp.co"
VERIFY_RECORD_PREFIX = "_mixpeek-verify."
VERIFY_VALUE_PREFIX = "mixpeek-site-verification="
RUNTIME_LOG_LEVELS = ("debug", "info", "warn", "error")

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
CREATE TABLE IF NOT EXISTS mixpeek_domains (
    domain TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES mixpeek_apps(app_id),
    verification_token TEXT NOT NULL,
    is_primary INTEGER NOT NULL, created_at TEXT NOT NULL, verify_started_at TEXT
);
CREATE TABLE IF NOT EXISTS mixpeek_objects (
    key TEXT PRIMARY KEY, app_id TEXT NOT NULL, body BLOB NOT NULL, etag TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, content_type TEXT NOT NULL, last_modified TEXT NOT NULL
);
"""


class StoreError(Refusal):
    """A request the state refuses; the HTTP layer turns it into the Mixpeek error envelope."""

    provider = "mixpeek"

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(status, kind, message, details or {})
        self.kind = kind
        self.wire_code = code

    def answer(self) -> Response:
        answer = mixpeek_error(self.status, self.kind, self.message, self.details)
        if self.wire_code is None:
            return answer
        body = json.loads(bytes(answer.body))
        body["error"]["code"] = self.wire_code
        return JSONResponse(body, status_code=self.status)


def not_found(resource: str, ident: str | int, message: str | None = None) -> StoreError:
    return StoreError(
        404,
        "NotFoundError",
        message or f"{resource.capitalize()} {ident} not found",
        {"id": ident, "resource": resource},
    )


def invalid(message: str, **details: Any) -> StoreError:
    return StoreError(422, "ValidationError", message, details)


def only_keys(body: Mapping[str, Any], accepted: tuple[str, ...]) -> None:
    """Keys outside the request model are refused (the SDK's rule for requests after 2026-11-02)."""
    extra = sorted(key for key in body if key not in accepted)
    if extra:
        named = ", ".join(accepted) if accepted else "none (this call takes no body)"
        raise StoreError(
            422,
            "ValidationError",
            f"Extra inputs are not permitted: {', '.join(extra)}. Accepted keys: {named}",
            {"extra": extra, "accepted": list(accepted)},
            code="extra_forbidden",
        )


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

    def all_apps(self) -> list[sqlite3.Row]:
        return self.db.query("SELECT * FROM mixpeek_apps ORDER BY created_at, app_id")

    def environments_json(self, row: sqlite3.Row) -> dict[str, Any]:
        """``environments``: what each one serves (deploy_id and asset_prefix, as promote copies them)."""
        environments = {}
        for environment in ENVIRONMENTS:
            pointer = self.environment_row(row["app_id"], environment)
            environments[environment] = {
                "version": pointer["version"] if pointer else None,
                "deploy_id": pointer["deploy_id"] if pointer else None,
                "asset_prefix": pointer["asset_prefix"] if pointer else None,
                "url": env_url(row["slug"], environment),
                "updated_at": pointer["updated_at"] if pointer else None,
            }
        return environments

    def list_item_json(self, row: sqlite3.Row) -> dict[str, Any]:
        """An ``AppListItem``: the App without its heavy page-builder fields."""
        config = json.loads(row["build_config"])
        return {
            "app_id": row["app_id"],
            "slug": row["slug"],
            "url": env_url(row["slug"], "production"),
            "meta": {"title": row["name"], "description": None},
            "is_active": True,
            "version": self._config_version(row["app_id"]),
            "has_unpublished_changes": False,
            "template": row["template"] or "custom",
            "custom_domains": self.custom_domains(row["app_id"]),
            "auth_config": {"mode": "public"},
            "build_config": {
                "entry": "src/layout.jsx",
                "framework": "react",
                "tailwind": True,
                "env_vars": dict(config.get("env_vars") or {}),
                "asset_prefix": self._served_prefix(row["app_id"]),
            },
            "monitoring_config": None,
            "repo_url": None,
            "repo_branch": None,
            "environments": self.environments_json(row),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def app_json(self, row: sqlite3.Row) -> dict[str, Any]:
        """An ``AppResponse``: the list item plus versions and the (empty) legacy page-builder fields."""
        return {
            **self.list_item_json(row),
            "warnings": None,
            "github_installation_id": None,
            "versions": self.list_versions(row["app_id"]),
            "sections": [],
            "custom_html": None,
            "hero": None,
            "theme": {"primary_color": "#007AFF"},
            "seo": None,
            "stats": [],
            "featured_gallery": None,
            "tabs": [],
            "password_protected": False,
        }

    def _config_version(self, app_id: str) -> int:
        row = self.db.query_one(
            "SELECT COALESCE(MAX(version), 0) AS v FROM mixpeek_versions WHERE app_id = ?", (app_id,)
        )
        return int(row["v"]) if row else 0

    def _served_prefix(self, app_id: str) -> str | None:
        pointer = self.environment_row(app_id, "production")
        return pointer["asset_prefix"] if pointer else None

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

    def list_versions(self, app_id: str) -> list[dict[str, Any]]:
        """Every version, most recent first (``VersionRecord``; the SDK's list takes no paging)."""
        rows = self.db.query(
            "SELECT * FROM mixpeek_versions WHERE app_id = ? ORDER BY version DESC", (app_id,)
        )
        return [self.version_json(row) for row in rows]

    def count_versions(self, app_id: str) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM mixpeek_versions WHERE app_id = ?", (app_id,))
        return int(row["n"]) if row else 0

    def version_json(self, row: sqlite3.Row) -> dict[str, Any]:
        """A ``VersionRecord``."""
        sources = json.loads(row["source_files"])
        deploy = self.db.query_one(
            "SELECT started_at, completed_at, git_commit_message FROM mixpeek_deploys WHERE deploy_id = ?",
            (row["deploy_id"],),
        )
        return {
            "version": row["version"],
            "s3_version_id": None,
            "asset_prefix": row["asset_prefix"],
            "asset_manifest": json.loads(row["manifest"]),
            "asset_manifest_url": None,
            "deployed_by": row["created_by"],
            "deployed_at": row["created_at"],
            "environment": row["environment"],
            "build_duration_ms": (
                _duration_ms(deploy["started_at"], deploy["completed_at"]) if deploy else None
            ),
            "message": row["message"],
            "source_files": sources or None,
            "git_commit_sha": row["git_commit_sha"],
            "git_commit_message": deploy["git_commit_message"] if deploy else None,
            "git_author": row["git_author"],
        }

    def version_detail_json(self, row: sqlite3.Row) -> dict[str, Any]:
        """A ``VersionDetailResponse``: the record and which environments serve it now."""
        live_in = {
            env["environment"]
            for env in self.db.query(
                "SELECT environment FROM mixpeek_environments WHERE app_id = ? AND version = ?",
                (row["app_id"], row["version"]),
            )
        }
        record = self.version_json(row)
        del record["asset_manifest_url"]
        return {**record, "is_active": {environment: environment in live_in for environment in ENVIRONMENTS}}

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
        """A ``DeployStatusResponse``."""
        smoke = row["smoke_test"]
        return {
            "deploy_id": row["deploy_id"],
            "status": row["status"],
            "environment": row["environment"],
            "source": row["source"],
            "bundle_s3_key": row["bundle_s3_key"],
            "message": row["message"],
            "queued_at": row["queued_at"],
            "queued_by": row["queued_by"],
            "error": row["error"],
            "smoke_test": json.loads(smoke) if smoke else None,
        }

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

    def promote(self, app_id: str, queued_by: str) -> dict[str, Any]:
        """``POST /promote``: production serves what staging does (deploy, assets); a ``PromoteResponse``."""
        staging = self.environment_row(app_id, "staging")
        if staging is None or staging["version"] is None:
            raise StoreError(409, "ConflictError", f"App {app_id} has nothing deployed to staging to promote")
        version = int(staging["version"])
        deploy_id = self.insert_deploy(
            app_id,
            kind="promote",
            environment="production",
            message=f"Promote staging (v{version}) to production",
            queued_by=queued_by,
            status="complete",
            source="promote",
            version=version,
        )
        self.append_log(deploy_id, f"Promoting staging (v{version}) to production...")
        self.append_log(deploy_id, "Deploy complete!")
        self.point_environment(app_id, "production", version, deploy_id)
        return {
            "app_id": app_id,
            "version": version,
            "deploy_id": deploy_id,
            "environment": "production",
            "asset_prefix": staging["asset_prefix"],
        }

    def publish(self, app_id: str, message: str, queued_by: str) -> None:
        """``POST /publish``: the production config snapshotted as a new version, which production serves."""
        pointer = self.environment_row(app_id, "production")
        if pointer is None or pointer["version"] is None:
            raise StoreError(
                409, "ConflictError", f"App {app_id} has nothing in production to publish a config for"
            )
        served = self.version_row(app_id, int(pointer["version"]))
        deploy_id = self.insert_deploy(
            app_id,
            kind="publish",
            environment="production",
            message=message,
            queued_by=queued_by,
            status="complete",
            source="publish",
            bundle_s3_key=served["bundle_s3_key"],
            source_files=json.loads(served["source_files"]),
        )
        self.append_log(deploy_id, "Publishing config snapshot...")
        self.append_log(deploy_id, "Deploy complete!")
        number = self.add_version(self.deploy_row(app_id, deploy_id), json.loads(served["manifest"]))
        self.db.execute("UPDATE mixpeek_deploys SET version = ? WHERE deploy_id = ?", (number, deploy_id))
        self.point_environment(app_id, "production", number, deploy_id)

    # -- custom domains ------------------------------------------------------------------------------
    def domain_row(self, app_id: str, domain: str) -> sqlite3.Row:
        row = self.db.query_one(
            "SELECT * FROM mixpeek_domains WHERE app_id = ? AND domain = ?", (app_id, domain)
        )
        if row is None:
            raise not_found("domain", domain, f"App {app_id} has no domain {domain}")
        return row

    def add_domain(self, app_id: str, domain: str, is_primary: bool) -> sqlite3.Row:
        taken = self.db.query_one("SELECT app_id FROM mixpeek_domains WHERE domain = ?", (domain,))
        if taken is not None:
            where = "this app" if taken["app_id"] == app_id else "another app"
            raise StoreError(409, "ConflictError", f"Domain {domain} is already attached to {where}")
        if is_primary:
            self.db.execute("UPDATE mixpeek_domains SET is_primary = 0 WHERE app_id = ?", (app_id,))
        seed = f"mixpeek-domain:{self.build_seed}:{app_id}:{domain}"
        token = hashlib.sha256(seed.encode()).hexdigest()[:32]
        self.db.execute(
            "INSERT INTO mixpeek_domains(domain, app_id, verification_token, is_primary, created_at,"
            " verify_started_at) VALUES (?, ?, ?, ?, ?, NULL)",
            (domain, app_id, token, int(is_primary), self.clock.now_iso()),
        )
        self.touch_app(app_id)
        return self.domain_row(app_id, domain)

    def start_verification(self, app_id: str, domain: str) -> sqlite3.Row:
        row = self.domain_row(app_id, domain)
        if row["verify_started_at"] is None:
            self.db.execute(
                "UPDATE mixpeek_domains SET verify_started_at = ? WHERE domain = ?",
                (self.clock.now_iso(), domain),
            )
        return self.domain_row(app_id, domain)

    def remove_domain(self, app_id: str, domain: str) -> None:
        self.domain_row(app_id, domain)
        self.db.execute("DELETE FROM mixpeek_domains WHERE app_id = ? AND domain = ?", (app_id, domain))
        self.touch_app(app_id)

    def list_domains(self, app_id: str) -> list[sqlite3.Row]:
        return self.db.query(
            "SELECT * FROM mixpeek_domains WHERE app_id = ? ORDER BY created_at, domain", (app_id,)
        )

    def domain_state(self, row: sqlite3.Row) -> tuple[str, str | None]:
        """(status, verified_at) as of now: derived from when verification started."""
        started = row["verify_started_at"]
        if started is None:
            return "pending", None
        begun = _parse_iso(started)
        elapsed = (self.clock.now() - begun).total_seconds()
        if "fail" in row["domain"] or elapsed < DOMAIN_DNS_SECONDS:
            return "verifying", None
        verified_at = SimClock.iso(begun + timedelta(seconds=DOMAIN_DNS_SECONDS))
        if elapsed < DOMAIN_DNS_SECONDS + DOMAIN_TLS_SECONDS:
            return "provisioning_tls", verified_at
        return "active", verified_at

    def domain_json(self, row: sqlite3.Row) -> dict[str, Any]:
        """A ``DomainResponse``."""
        status, verified_at = self.domain_state(row)
        return {
            "domain": row["domain"],
            "status": status,
            "verification_token": row["verification_token"],
            "cname_target": CNAME_TARGET,
            "is_primary": bool(row["is_primary"]),
            "verified_at": verified_at,
        }

    def custom_domains(self, app_id: str) -> list[dict[str, Any]]:
        """The App's ``custom_domains`` (``CustomDomainConfig``)."""
        return [
            {**self.domain_json(row), "tls_cert_id": None, "tls_expires_at": None}
            for row in self.list_domains(app_id)
        ]

    # -- runtime logs --------------------------------------------------------------------------------
    def runtime_logs(self, app_id: str, *, hours: int, level: str | None, limit: int) -> list[dict[str, Any]]:
        """The app's console logs in the window, newest first: a pure function of the app and the minute,
        so two reads agree and time brings new lines. Nothing runs before anything is deployed."""
        pointer = self.environment_row(app_id, "production")
        if pointer is None or pointer["version"] is None:
            return []
        now = self.clock.now()
        minute = int(now.timestamp() // 60)
        out: list[dict[str, Any]] = []
        for back in range(hours * 60):
            bucket = minute - back
            digest = hashlib.sha256(f"mixpeek-runtime:{app_id}:{bucket}".encode()).digest()
            if digest[0] % 3:  # about one minute in three has a line
                continue
            entry_level = RUNTIME_LOG_LEVELS[min(digest[1] % 10, 9) // 3] if digest[1] % 10 < 9 else "error"
            if level is not None and entry_level != level:
                continue
            moment = datetime.fromtimestamp(bucket * 60 + digest[2] % 60, tz=now.tzinfo)
            messages = _RUNTIME_MESSAGES[entry_level]
            if moment > now:
                continue
            out.append(
                {
                    "timestamp": SimClock.iso(moment),
                    "level": entry_level,
                    "message": messages[digest[3] % len(messages)],
                    "environment": "production",
                    "version": pointer["version"],
                }
            )
            if len(out) >= limit:
                break
        return out

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


_RUNTIME_MESSAGES: dict[str, tuple[str, ...]] = {
    "debug": ("hydrated route /", "cache hit for /api/config"),
    "info": ("GET /api/search 200", "session started", "rendered page in 42ms", "service worker updated"),
    "warn": ("slow response from /api/search (1.8s)", "retrying fetch /api/config"),
    "error": (
        "TypeError: cannot read properties of undefined (reading 'items')",
        "fetch /api/cart failed: 502",
    ),
}


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _duration_ms(started: str | None, completed: str | None) -> int | None:
    if not started or not completed:
        return None
    return max(0, int((_parse_iso(completed) - _parse_iso(started)).total_seconds() * 1000))


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
