"""The Mixpeek sandbox's seed data: apps with production and staging histories."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipdeck.sim.core import SimClock
from shipdeck.sim.mixpeek_store import LINE_SECONDS, MixpeekStore, env_url, make_zip, plan_build


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
        store.db.execute(
            "UPDATE mixpeek_deploys SET started_at = ? WHERE deploy_id = ?", (SimClock.iso(moment), deploy_id)
        )
        for offset, line in enumerate(plan.lines):
            store.append_log(deploy_id, line, moment + timedelta(seconds=offset * LINE_SECONDS))
    # The build took as long as its log lines did (build_duration_ms of the version).
    finished = moment + timedelta(seconds=len(plan.lines) * LINE_SECONDS)
    with _clock_at(store, finished):
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
