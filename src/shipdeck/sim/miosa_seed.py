"""Seed data for the Miosa surface, and the objects derived from a deployment (domains' DNS records, runtime
instances, metrics).

The demo org is deterministic for a given ``--epoch`` and ``--rng-seed``: every timestamp is an offset before
the epoch and every choice comes from ``ctx.rng``.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta
from typing import Any

from shipdeck.sim import metrics as health
from shipdeck.sim.core import parse_seed
from shipdeck.sim.miosa_store import (
    DEFAULTS,
    FAILURE_REASONS,
    TABLES,
    TENANT_SLUG,
    MiosaStore,
    build_plan,
    compact,
    mask,
    new_id,
    sha256_of,
)

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DOMAIN_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")

# (name, kind, final state, domains as (name, status))
DEMO_DEPLOYMENTS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "smile-dental-landing",
        "static",
        "running",
        (
            ("smiledental.test", "active"),
            ("www.smiledental.test", "pending"),
            ("book.smiledental-fail.test", "failed"),
        ),
    ),
    ("clinic-intake", "dynamic", "running", (("intake.cliniciq.test", "active"),)),
    (
        "patient-portal",
        "dynamic",
        "running",
        (("portal.cliniciq.test", "active"), ("my.cliniciq.test", "verified")),
    ),
    ("billing-api", "dynamic", "failed", (("billing.acme.test", "active"),)),
    ("marketing-site", "static", "running", (("acme.test", "active"), ("www.acme.test", "active"))),
    ("docs-hub", "static", "stopped", (("docs.acme.test", "active"),)),
    ("booking-widget", "static", "running", (("book.acme.test", "pending"),)),
    ("analytics-worker", "dynamic", "running", (("events.acme.test", "active"),)),
    (
        "status-page",
        "static",
        "running",
        (("status.acme.test", "active"), ("status-fail.acme.test", "failed")),
    ),
)

ENV_POOL = (
    ("DATABASE_URL", "postgres://app:s3cret@db.internal:5432/app"),
    ("NEXT_PUBLIC_SITE_URL", "https://example.test"),
    ("SENTRY_DSN", "https://4f2c9e@o1234.ingest.sentry.test/567"),
    ("STRIPE_SECRET_KEY", "sk_test_51HxDemoKeyNotReal"),
    ("LOG_LEVEL", "info"),
    ("SESSION_SECRET", "b7c1f0e2a9d84c3e"),
)


def seed(store: MiosaStore, kind: str) -> None:
    name, count = parse_seed(kind)
    if name == "demo":
        seed_demo(store)
    elif name == "scale":
        seed_scale(store, count)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def seed_demo(store: MiosaStore) -> None:
    ctx = store.ctx
    rng = ctx.rng
    epoch = ctx.clock.epoch.replace(microsecond=0)
    for index, (name, kind, final_state, domains) in enumerate(DEMO_DEPLOYMENTS):
        created = epoch - timedelta(days=40 - index * 2, hours=rng.randint(0, 12))
        deployment_id = new_id(rng, "dep")
        slug = name
        deployment: dict[str, Any] = {
            **json.loads(json.dumps(DEFAULTS["deployment"])),
            "id": deployment_id,
            "name": name,
            "slug": slug,
            "state": final_state,
            "repo_url": f"https://github.com/acme/{slug}",
            "source_type": "sandbox",
            "run_command": "npm start" if kind == "dynamic" else None,
            "auto_subdomain": f"https://{slug}.{TENANT_SLUG}.miosa.app",
            "created_at": _iso(created),
        }
        count = rng.randint(3, 12)
        outcomes = ["ready" if rng.random() > 0.25 else "failed" for _ in range(count)]
        for forced in rng.sample(range(count), 3):
            outcomes[forced] = "ready"
        if final_state == "failed":
            outcomes[-1] = "failed"
        # Versions spread over the deployment's life, newest a few hours before the epoch.
        hours_back = sorted((rng.uniform(1, 24 * 30) for _ in range(count)), reverse=True)
        active: dict[str, Any] | None = None
        for number, (state, hours) in enumerate(zip(outcomes, hours_back, strict=True), start=1):
            active = (
                _seed_version(store, deployment, kind, number, state, epoch - timedelta(hours=hours))
                or active
            )
        assert active is not None
        deployment.update(
            active_version_id=active["id"],
            active_release_id=active["release_id"],
            running_artifact_sha256=active["artifact_sha256"],
            public_url=deployment["auto_subdomain"] if final_state != "stopped" else None,
            current_build_id=deployment["current_build_id"],
            updated_at=_iso(epoch - timedelta(hours=hours_back[-1]) + timedelta(minutes=3)),
        )
        store.insert("deployment", deployment)
        for domain_name, status in domains:
            domain = new_domain(store, deployment, domain_name, status, "none")
            domain["created_at"] = domain["updated_at"] = _iso(created + timedelta(days=1))
            if status in ("verified", "active"):
                domain["verified_at"] = domain["created_at"]
            if status == "failed":
                domain["failure_reason"] = (
                    f"No CNAME record for {domain_name} points at {domain['verification_target']}."
                )
            store.insert("domain", domain, domain=domain_name)
        env = rng.sample(ENV_POOL, rng.randint(2, 5))
        stamp = _iso(created + timedelta(hours=2))
        store.db.executemany(
            "INSERT INTO miosa_env(deployment_id, environment, name, value, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(deployment_id, "production", key, value, stamp, stamp) for key, value in env],
        )
    seed_checkout(store)


# The incident of the demo: checkout-api's v5 went live 14 minutes before the epoch and fails its users;
# v4 before it was healthy. Its own rng (not ctx.rng), so every other seeded object stays as it was.
CHECKOUT_ROUTES = (
    ("POST", "/api/checkout"),
    ("GET", "/api/cart"),
    ("POST", "/api/payments/confirm"),
    ("GET", "/api/health"),
    ("GET", "/api/products"),
)
CHECKOUT_PROFILES: dict[int, dict[str, Any]] = {
    4: {"error_rate": 0.003, "p50_ms": 42.0, "p95_ms": 120.0, "p99_ms": 260.0},
    5: {
        "error_rate": 0.124,
        "p50_ms": 96.0,
        "p95_ms": 840.0,
        "p99_ms": 1900.0,
        "failing_routes": ["/api/checkout", "/api/payments/confirm"],
    },
}


def seed_checkout(store: MiosaStore) -> None:
    ctx = store.ctx
    saved = ctx.rng
    ctx.rng = random.Random(f"checkout-api:{ctx.options.rng_seed}")
    try:
        _seed_checkout(store)
    finally:
        ctx.rng = saved


def _seed_checkout(store: MiosaStore) -> None:
    ctx = store.ctx
    epoch = ctx.clock.epoch.replace(microsecond=0)
    slug = "checkout-api"
    deployment: dict[str, Any] = {
        **json.loads(json.dumps(DEFAULTS["deployment"])),
        "id": new_id(ctx.rng, "dep"),
        "name": slug,
        "slug": slug,
        "state": "running",
        "repo_url": f"https://github.com/acme/{slug}",
        "source_type": "sandbox",
        "run_command": "npm start",
        "auto_subdomain": f"https://{slug}.{TENANT_SLUG}.miosa.app",
        "created_at": _iso(epoch - timedelta(days=21)),
    }
    # (number, created before the epoch, live from (before the epoch) or None)
    plan = (
        (1, timedelta(days=20), timedelta(days=20)),
        (2, timedelta(days=9), timedelta(days=9)),
        (3, timedelta(days=3), timedelta(days=3)),
        (4, timedelta(hours=26), timedelta(hours=26)),
        (5, timedelta(minutes=20), timedelta(minutes=14)),
    )
    active: dict[str, Any] | None = None
    key = f"miosa:{deployment['id']}"
    health.set_override(store.db, key, {"rpm": 1200, "routes": [list(r) for r in CHECKOUT_ROUTES]})
    for number, created, live in plan:
        version = _seed_version(store, deployment, "dynamic", number, "ready", epoch - created)
        assert version is not None
        active = version
        promoted = epoch - live
        version["promoted_at"] = _iso(promoted)
        store.db.execute(
            "UPDATE miosa_versions SET doc = json_set(doc, '$.promoted_at', ?) WHERE id = ?",
            (_iso(promoted), version["id"]),
        )
        health.record_switch(store.db, "miosa", deployment["id"], version["id"], promoted)
        if number in CHECKOUT_PROFILES:
            health.set_override(store.db, f"{key}:{version['id']}", CHECKOUT_PROFILES[number])
    assert active is not None
    deployment.update(
        active_version_id=active["id"],
        active_release_id=active["release_id"],
        running_artifact_sha256=active["artifact_sha256"],
        public_url=deployment["auto_subdomain"],
        updated_at=active["promoted_at"],
    )
    store.insert("deployment", deployment)
    stamp = _iso(epoch - timedelta(days=21))
    store.db.executemany(
        "INSERT INTO miosa_env(deployment_id, environment, name, value, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(deployment["id"], "production", k, v, stamp, stamp) for k, v in ENV_POOL[:3]],
    )


def _seed_version(
    store: MiosaStore, deployment: dict[str, Any], kind: str, number: int, state: str, created: datetime
) -> dict[str, Any] | None:
    """One finished version with its build, logs and (when ready) release; returns it if it is ready."""
    rng = store.ctx.rng
    version_id, build_id = new_id(rng, "ver"), new_id(rng, "bld")
    plan = build_plan(store.ctx.options.rng_seed, deployment["id"], number, f"sbx_{deployment['slug']}")
    failure = rng.choice(FAILURE_REASONS) if state == "failed" else None
    lines = [line for line in plan.lines[:-1]]
    lines.append(
        ("stderr", f"error: {failure}")
        if failure
        else ("stdout", f"Build complete: version {number} is ready")
    )
    started = created + timedelta(seconds=2)
    finished = started + timedelta(seconds=sum(plan.delays))
    sha = sha256_of(f"{version_id}:{number}")
    log_uri = f"/api/v1/deployments/{deployment['id']}/builds/{build_id}/logs"
    version = {
        **json.loads(json.dumps(DEFAULTS["version"])),
        "id": version_id,
        "deployment_id": deployment["id"],
        "version_number": number,
        "kind": kind,
        "state": state,
        "build_id": build_id,
        "source_sandbox_id": f"sbx_{deployment['slug']}",
        "build_log_uri": log_uri,
        "runtime_command": "npm start" if kind == "dynamic" else None,
        "runtime_port": 3000 if kind == "dynamic" else None,
        "created_at": _iso(created),
        "updated_at": _iso(finished),
    }
    if failure:
        version["metadata"] = {"failure_reason": failure}
    else:
        version.update(
            artifact_sha256=sha,
            artifact_uri=f"sim://artifacts/{deployment['slug']}/v{number}.tar.gz",
            artifact_manifest={"files": int(sha[:3], 16) % 300 + 40, "entrypoint": "index.html"},
            promoted_at=_iso(finished),
        )
    build = {
        **json.loads(json.dumps(DEFAULTS["build"])),
        "id": build_id,
        "deployment_id": deployment["id"],
        "version_id": version_id,
        "state": "failed" if failure else "succeeded",
        "triggered_by": "webhook" if number % 3 else "manual",
        "commit_sha": sha256_of(f"{deployment['id']}:{number}")[:40],
        "commit_message": f"Publish v{number}",
        "log_url": log_uri,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_ms": int((finished - started).total_seconds() * 1000),
        "image_digest": None if failure else f"sha256:{sha}",
        "error_message": failure,
        "created_at": _iso(created),
    }
    store.insert("version", version, promote_on_ready=1)
    store.insert("build", build)
    moment = started
    log_rows = []
    for seq, ((stream, text), delay) in enumerate(zip(lines, plan.delays, strict=False), start=1):
        moment += timedelta(seconds=delay)
        log_rows.append((build_id, seq, _iso(moment), stream, text))
    store.db.executemany(
        "INSERT INTO miosa_build_logs(build_id, seq, ts, stream, line) VALUES (?, ?, ?, ?, ?)", log_rows
    )
    deployment["current_build_id"] = build_id
    if failure:
        return None
    release = {
        **json.loads(json.dumps(DEFAULTS["release"])),
        "id": new_id(rng, "rel"),
        "deployment_id": deployment["id"],
        "deployment_version_id": version_id,
        "build_id": build_id,
        "kind": "static" if kind == "static" else "oci",
        "artifact_uri": version["artifact_uri"],
        "artifact_sha256": sha,
        "storage_uri": version["artifact_uri"],
        "sha256": sha,
        "size_bytes": int(sha[:5], 16) * 37 + 20_000,
        "ready_at": _iso(finished),
        "created_at": _iso(finished),
        "updated_at": _iso(finished),
    }
    store.insert("release", release)
    return {**version, "release_id": release["id"]}


def seed_scale(store: MiosaStore, count: int) -> None:
    """``count`` deployments with 5 ready versions each, in a handful of executemany calls."""
    rng = store.ctx.rng
    stamp = _iso(store.ctx.clock.epoch.replace(microsecond=0) - timedelta(days=1))
    deployments, versions = [], []
    for index in range(count):
        deployment_id = new_id(rng, "dep")
        slug = f"app-{index:06d}"
        version_ids = [new_id(rng, "ver") for _ in range(5)]
        deployment = {
            "id": deployment_id,
            "name": slug,
            "slug": slug,
            "state": "running",
            "active_version_id": version_ids[-1],
            "auto_subdomain": f"https://{slug}.{TENANT_SLUG}.miosa.app",
            "public_url": f"https://{slug}.{TENANT_SLUG}.miosa.app",
            "created_at": stamp,
            "updated_at": stamp,
        }
        deployments.append((deployment_id, slug, compact("deployment", deployment)))
        for number, version_id in enumerate(version_ids, start=1):
            version = {
                "id": version_id,
                "deployment_id": deployment_id,
                "version_number": number,
                "state": "ready",
                "created_at": stamp,
                "updated_at": stamp,
            }
            versions.append((version_id, deployment_id, compact("version", version)))
    store.db.executemany(f"INSERT INTO {TABLES['deployment']}(id, slug, doc) VALUES (?, ?, ?)", deployments)
    store.db.executemany(
        f"INSERT INTO {TABLES['version']}(id, deployment_id, doc) VALUES (?, ?, ?)", versions
    )


# ------------------------------------------------------------------------------------------- derived objects


def new_domain(
    store: MiosaStore, deployment: dict[str, Any], name: str, status: str, policy: str
) -> dict[str, Any]:
    target = f"{deployment['slug']}.{TENANT_SLUG}.miosa.app"
    label = name.split(".")[0] if name.count(".") >= 2 else "@"
    records = [{"type": "CNAME", "name": label, "value": target}]
    records.append(
        {"type": "TXT", "name": f"_miosa-challenge.{name}", "value": f"miosa-verify={sha256_of(name)[:24]}"}
    )
    now = store.ctx.clock.now_iso()
    return {
        **json.loads(json.dumps(DEFAULTS["domain"])),
        "id": new_id(store.ctx.rng, "dom"),
        "deployment_id": deployment["id"],
        "domain": name,
        "fqdn": name,
        "status": status,
        "redirect_policy": policy,
        "verification_target": target,
        "dns_records": records,
        "records": records,
        "created_at": now,
        "updated_at": now,
    }


def _instance_state(deployment: dict[str, Any]) -> str:
    return {"running": "healthy", "stopped": "stopped", "failed": "error", "building": "starting"}.get(
        deployment["state"], "provisioning"
    )


def runtime_instances(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    count = 2 if deployment["state"] in ("running", "building") else 1
    state = _instance_state(deployment)
    return [
        {
            "id": f"ri_{deployment['id'][4:]}_{n}",
            "deployment_id": deployment["id"],
            "tenant_id": deployment["tenant_id"],
            "release_id": deployment["active_release_id"],
            "host_id": f"host_{n}",
            "desired_state": "stopped" if deployment["state"] == "stopped" else "running",
            "state": state,
            "ip_address": f"10.0.{n}.{int(deployment['id'][-2:], 16)}",
            "port": 3000,
            "health_check_path": "/",
            "last_health_check_at": deployment["updated_at"],
            "last_heartbeat_at": deployment["updated_at"],
            "started_at": deployment["created_at"],
            "stopped_at": deployment["updated_at"] if state == "stopped" else None,
            "error_message": "Container exited with code 137 (out of memory)" if state == "error" else None,
            "restart_count": 3 if state == "error" else 0,
            "cpu_limit_millicores": 500,
            "memory_limit_mb": 512,
            "runtime_log_path": f"/var/log/miosa/ri_{deployment['id'][4:]}_{n}.log",
            "metadata": {},
            "created_at": deployment["created_at"],
            "updated_at": deployment["updated_at"],
        }
        for n in range(1, count + 1)
    ]


def runtime_log_lines(deployment: dict[str, Any], instance_id: str, lines: int, now: datetime) -> list[str]:
    routes = ("/", "/api/health", "/book", "/assets/app.js", "/api/slots")
    out = []
    for n in range(min(lines, 200)):
        moment = now - timedelta(seconds=(min(lines, 200) - n) * 7)
        status = 200 if n % 17 else 500
        out.append(
            f"{_iso(moment)} {instance_id} GET {routes[n % len(routes)]} {status} {(n * 13) % 90 + 4}ms"
        )
    return out


def metrics(deployment: dict[str, Any], window: str, now: str) -> dict[str, Any]:
    instances = runtime_instances(deployment)
    healthy = sum(1 for i in instances if i["state"] == "healthy")
    points = {"1h": 12, "24h": 24, "7d": 28}[window]
    return {
        "resource_type": "deployment",
        "deployment_id": deployment["id"],
        "resource_id": deployment["id"],
        "window": window,
        "current": {
            "state": deployment["state"],
            "runtime_instances": {
                "total": len(instances),
                "active": healthy,
                "healthy": healthy,
                "unhealthy": 0,
                "error": sum(1 for i in instances if i["state"] == "error"),
                "restarts": sum(int(i["restart_count"]) for i in instances),
            },
            "cpu_limit_millicores": 500,
            "memory_limit_mb": 512,
            "usage": {"runtime_sec": points * 300 * healthy, "cost_cents": points * healthy},
            "last_health_check_at": now,
            "last_heartbeat_at": now,
        },
        "series": {"runtime_instance_count": [len(instances)] * points},
    }


__all__ = ["DOMAIN_NAME", "ENV_NAME", "mask", "metrics", "new_domain", "runtime_instances", "seed"]
