"""Simulated service health: how a deployment's users are served, version by version.

Nothing here is stored per request. A deployment's traffic is a pure function of

* its **traffic story**: which version was made active when (``switches``), and whether it serves at all;
* each version's **health profile** (error rate, latency percentiles, which routes fail), decided by
  ``--rng-seed`` and the version's key, or set explicitly by a seed (``sim_health_overrides``);
* the simulated time, with deterministic noise per 10-second bucket.

Traffic follows the active version: after a switch at ``t0`` the share still served by the old version is
``exp(-(t - t0) / TRAFFIC_TAU_S)`` (old instances drain), so the error rate moves to the new version's level
over about a minute of simulated time, with noise. A version published during the run (created after the
epoch) is bad now and then (``BAD_PUBLISH_CHANCE``); versions that existed before the epoch are healthy unless
a seed says otherwise.

Provider surfaces (``sim/miosa_health.py``, ``sim/mixpeek_health.py``) build a :class:`Traffic` from their own
tables and render these numbers in their own wire shapes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import NormalDist
from typing import Any

from shipdeck.sim.core import Database

TRAFFIC_TAU_S = 6.0  # old instances drain with this time constant (seconds of simulated time)
DEFAULT_WINDOW_S = 30  # the "current" figures cover the last 30 s, so a rollback shows within a minute
BUCKET_S = 10  # noise changes every 10 s of simulated time
BAD_PUBLISH_CHANCE = 0.15
MAX_LOG_SCAN = 40_000  # requests looked at to find failing ones in a request log
LOG_HORIZON_S = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_health_overrides (key TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_traffic_switches (
    provider TEXT NOT NULL, deployment_id TEXT NOT NULL, at REAL NOT NULL, version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sim_traffic_switches_by_deployment
    ON sim_traffic_switches(provider, deployment_id, at);
"""

ROUTE_POOL = (
    ("GET", "/"),
    ("GET", "/api/health"),
    ("GET", "/api/items"),
    ("POST", "/api/session"),
    ("GET", "/assets/app.js"),
    ("GET", "/api/search"),
    ("POST", "/api/events"),
    ("GET", "/account"),
)
ERROR_MESSAGES = {
    500: "Internal Server Error: unhandled exception in request handler",
    502: "Bad Gateway: upstream closed the connection",
    503: "Service Unavailable: connection pool exhausted",
    504: "Gateway Timeout: upstream did not answer in 10s",
}
_NORMAL = NormalDist()


def create_schema(db: Database) -> None:
    db.connection.executescript(SCHEMA)


# ------------------------------------------------------------------------------------------- randomness


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its parts (the rng seed is always one of them)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _between(low: float, high: float, *parts: object) -> float:
    return low + (high - low) * unit(*parts)


# ------------------------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One version's health: what its users see while it serves all traffic."""

    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    failing_routes: tuple[str, ...] = ()  # paths that carry most errors of a bad version

    @property
    def bad(self) -> bool:
        return self.error_rate >= 0.05

    def as_json(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "failing_routes": list(self.failing_routes),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Profile:
        return cls(
            float(doc["error_rate"]),
            float(doc["p50_ms"]),
            float(doc["p95_ms"]),
            float(doc["p99_ms"]),
            tuple(doc.get("failing_routes", ())),
        )


def healthy_profile(rng_seed: int, key: str) -> Profile:
    p50 = _between(18, 70, rng_seed, key, "p50")
    p95 = p50 * _between(2.4, 3.6, rng_seed, key, "p95")
    return Profile(
        error_rate=_between(0.0008, 0.004, rng_seed, key, "err"),
        p50_ms=round(p50, 1),
        p95_ms=round(p95, 1),
        p99_ms=round(p95 * _between(1.4, 2.0, rng_seed, key, "p99"), 1),
    )


def bad_profile(rng_seed: int, key: str, routes: tuple[tuple[str, str], ...]) -> Profile:
    base = healthy_profile(rng_seed, key)
    p95 = base.p95_ms * _between(4.0, 7.0, rng_seed, key, "bad-p95")
    failing = routes[int(unit(rng_seed, key, "route") * len(routes))][1] if routes else "/"
    return Profile(
        error_rate=round(_between(0.08, 0.15, rng_seed, key, "bad-err"), 4),
        p50_ms=round(base.p50_ms * _between(1.3, 2.0, rng_seed, key, "bad-p50"), 1),
        p95_ms=round(p95, 1),
        p99_ms=round(p95 * _between(1.6, 2.4, rng_seed, key, "bad-p99"), 1),
        failing_routes=(failing,),
    )


def drawn_profile(rng_seed: int, key: str, *, fresh: bool, routes: tuple[tuple[str, str], ...]) -> Profile:
    """A version's profile from the seed: a version published during the run is bad now and then."""
    if fresh and unit(rng_seed, key, "is-bad") < BAD_PUBLISH_CHANCE:
        return bad_profile(rng_seed, key, routes)
    return healthy_profile(rng_seed, key)


def default_routes(rng_seed: int, key: str) -> tuple[tuple[str, str], ...]:
    count = 3 + int(unit(rng_seed, key, "routes") * 4)
    start = int(unit(rng_seed, key, "route-start") * len(ROUTE_POOL))
    return tuple(ROUTE_POOL[(start + n) % len(ROUTE_POOL)] for n in range(count))


# ------------------------------------------------------------------------------------------- traffic

# Moments of a window at which the version mix is sampled to place its errors on routes.
ROUTE_MIX_SAMPLES = 12


@dataclass
class Traffic:
    """One deployment's traffic story (times are POSIX seconds of simulated time)."""

    key: str  # provider:deployment, for noise
    rng_seed: int
    rpm: float  # requests per minute while serving
    routes: tuple[tuple[str, str], ...]  # (method, path); the first carries the most traffic
    switches: list[tuple[float, str]]  # (at, version) in time order; the last is the active version
    profiles: dict[str, Profile]
    serving: bool = True
    labels: dict[str, str] = field(default_factory=dict)  # version -> what a person calls it ("v5")

    def mix(self, moment: float) -> dict[str, float]:
        """Share of traffic each version serves at ``moment``."""
        index = -1
        for n, (at, _) in enumerate(self.switches):
            if at <= moment:
                index = n
        if index < 0:
            return {self.switches[0][1]: 1.0} if self.switches else {}
        start = max(0, index - 3)
        shares = {self.switches[start][1]: 1.0}
        for at, version in self.switches[start + 1 : index + 1]:
            weight = 1.0 - math.exp(-(moment - at) / TRAFFIC_TAU_S)
            shares = {v: share * (1.0 - weight) for v, share in shares.items()}
            shares[version] = shares.get(version, 0.0) + weight
        return {v: share for v, share in shares.items() if share > 1e-6}

    def _noise(self, moment: float, what: str, spread: float) -> float:
        bucket = int(moment // BUCKET_S)
        return 1.0 + spread * (2.0 * unit(self.rng_seed, self.key, what, bucket) - 1.0)

    def rate_at(self, moment: float) -> float:
        return self.rpm * self._noise(moment, "rpm", 0.15) if self.serving else 0.0

    def profile(self, version: str) -> Profile:
        return self.profiles.get(version) or healthy_profile(self.rng_seed, f"{self.key}:{version}")

    def point(self, moment: float) -> tuple[float, float, float, float]:
        """(error rate, p50, p95, p99) of the traffic at ``moment``, noise included."""
        err = p50 = p95 = p99 = 0.0
        for version, share in self.mix(moment).items():
            profile = self.profile(version)
            err += share * profile.error_rate
            p50 += share * profile.p50_ms
            p95 += share * profile.p95_ms
            p99 += share * profile.p99_ms
        lat = self._noise(moment, "lat", 0.10)
        return min(1.0, err * self._noise(moment, "err", 0.25)), p50 * lat, p95 * lat, p99 * lat

    def window(self, end: float, seconds: float) -> dict[str, Any]:
        """Requests, errors, error rate and latency percentiles over ``[end - seconds, end]``."""
        steps = max(1, min(60, int(seconds // 2)))
        step = seconds / steps
        requests = errors = 0.0
        p50 = p95 = p99 = 0.0
        for n in range(steps):
            moment = end - seconds + (n + 0.5) * step
            count = self.rate_at(moment) * step / 60.0
            err, a, b, c = self.point(moment)
            requests += count
            errors += count * err
            p50 += count * a
            p95 += count * b
            p99 += count * c
        whole = int(round(requests))
        failed = min(whole, int(round(errors)))
        if whole == 0:
            return {"requests": 0, "errors": 0, "error_rate": None, "p50_ms": None, "p95_ms": None,
                    "p99_ms": None, "rpm": 0.0}  # fmt: skip
        return {
            "requests": whole,
            "errors": failed,
            "error_rate": round(failed / whole, 5),
            "p50_ms": round(p50 / requests, 1),
            "p95_ms": round(p95 / requests, 1),
            "p99_ms": round(p99 / requests, 1),
            "rpm": round(requests * 60.0 / seconds, 1),
        }

    def series(self, end: float, span_s: float, points: int) -> list[dict[str, Any]]:
        width = span_s / points
        out = []
        for n in range(points):
            stop = end - span_s + (n + 1) * width
            out.append({"t": stop, **self.window(stop, width)})
        return out

    def versions_live(self, start: float, end: float) -> list[tuple[float, str]]:
        """The switches inside ``[start, end]`` (what a chart marks on its time axis), after the one in
        effect at ``start`` (so each version's span in the window is known)."""
        before = [(at, version) for at, version in self.switches if at < start][-1:]
        return before + [(at, version) for at, version in self.switches if start <= at <= end]

    def route_weights(self) -> list[float]:
        weights = [1.0 / (n + 1) ** 0.8 for n in range(len(self.routes))]
        total = sum(weights)
        return [w / total for w in weights]

    def route_stats(self, end: float, seconds: float) -> list[dict[str, Any]]:
        totals = self.window(end, seconds)
        requests, errors = totals["requests"], totals["errors"]
        # The share of the window's errors that bad versions made, over the whole window: the mix at its
        # end alone forgot a bad version rolled back minutes ago, and its errors spread over every route.
        failing: set[str] = set()
        bad_errors = all_errors = 0.0
        for step in range(ROUTE_MIX_SAMPLES):
            moment = end - seconds * (step + 0.5) / ROUTE_MIX_SAMPLES
            for version, share in self.mix(moment).items():
                profile = self.profile(version)
                made = share * profile.error_rate
                all_errors += made
                if profile.failing_routes:
                    failing.update(profile.failing_routes)
                    bad_errors += made
        bad_share = bad_errors / all_errors if all_errors else 0.0
        weights = self.route_weights()
        failing_weight = sum(w for (_, path), w in zip(self.routes, weights, strict=True) if path in failing)
        out: list[dict[str, Any]] = []
        for (method, path), weight in zip(self.routes, weights, strict=True):
            route_requests = int(round(requests * weight))
            # A bad version's errors sit mostly (85%) on its failing routes; the rest follow the traffic.
            share_of_errors = weight
            if failing and failing_weight > 0:
                concentrated = 0.85 * (weight / failing_weight if path in failing else 0.0) + 0.15 * weight
                share_of_errors = bad_share * concentrated + (1.0 - bad_share) * weight
            route_errors = min(route_requests, int(round(errors * share_of_errors)))
            p50 = (totals["p50_ms"] or 0.0) * (0.6 + 0.8 * unit(self.rng_seed, self.key, path, "lat"))
            p95 = (totals["p95_ms"] or 0.0) * (0.6 + 0.8 * unit(self.rng_seed, self.key, path, "lat"))
            if path in failing:
                p95 *= 1.5
            out.append(
                {
                    "method": method,
                    "route": path,
                    "requests": route_requests,
                    "errors": route_errors,
                    "error_rate": round(route_errors / route_requests, 5) if route_requests else None,
                    "p50_ms": round(p50, 1),
                    "p95_ms": round(p95, 1),
                }
            )
        out.sort(key=lambda r: (-r["errors"], -r["requests"]))
        return out

    def requests(
        self, end: float, *, limit: int, only_errors: bool = False, since: float | None = None
    ) -> list[dict[str, Any]]:
        """The latest requests (newest first), each decided by its own slot in time: stable across calls."""
        out: list[dict[str, Any]] = []
        if not self.serving or self.rpm <= 0 or not self.switches:
            return out
        interval = 60.0 / self.rpm
        slot = int(end // interval)
        floor = max(since if since is not None else end - LOG_HORIZON_S, end - LOG_HORIZON_S)
        weights = self.route_weights()
        for _ in range(MAX_LOG_SCAN):
            moment = slot * interval
            if moment < floor or len(out) >= limit:
                break
            slot -= 1
            entry = self._request_at(slot + 1, moment, weights)
            if only_errors and entry["status"] < 500:
                continue
            out.append(entry)
        return out

    def _request_at(self, slot: int, moment: float, weights: list[float]) -> dict[str, Any]:
        seed, key = self.rng_seed, self.key
        shares = self.mix(moment)
        pick, version = unit(seed, key, slot, "v"), next(iter(shares))
        for candidate, share in shares.items():
            version = candidate
            if pick < share:
                break
            pick -= share
        profile = self.profile(version)
        err = profile.error_rate * self._noise(moment, "err", 0.25)
        failed = unit(seed, key, slot, "e") < err
        route_index = _choose(weights, unit(seed, key, slot, "r"))
        if failed and profile.failing_routes and unit(seed, key, slot, "fr") < 0.85:
            paths = [path for _, path in self.routes]
            target = profile.failing_routes[int(unit(seed, key, slot, "fp") * len(profile.failing_routes))]
            route_index = paths.index(target) if target in paths else route_index
        method, path = self.routes[route_index]
        z = _NORMAL.inv_cdf(min(0.9999, max(0.0001, unit(seed, key, slot, "l"))))
        sigma = math.log(max(profile.p95_ms, profile.p50_ms + 1) / profile.p50_ms) / 1.645
        latency = profile.p50_ms * math.exp(z * sigma) * self._noise(moment, "lat", 0.10)
        if failed:
            status = (500, 502, 503, 504)[int(unit(seed, key, slot, "s") * 4)]
        else:
            status = 404 if unit(seed, key, slot, "nf") < 0.01 else (201 if method == "POST" else 200)
        return {
            "id": f"req_{hashlib.blake2b(f'{key}:{slot}'.encode(), digest_size=8).hexdigest()}",
            "at": moment,
            "method": method,
            "route": path,
            "status": status,
            "latency_ms": round(latency, 1),
            "version": version,
            "error": ERROR_MESSAGES.get(status) if failed else None,
        }


def _choose(weights: list[float], pick: float) -> int:
    for index, weight in enumerate(weights):
        if pick < weight:
            return index
        pick -= weight
    return len(weights) - 1


# ------------------------------------------------------------------------------------------- storage


def get_override(db: Database, key: str) -> dict[str, Any] | None:
    row = db.query_one("SELECT doc FROM sim_health_overrides WHERE key = ?", (key,))
    return None if row is None else dict(json.loads(row["doc"]))


def set_override(db: Database, key: str, doc: dict[str, Any]) -> None:
    db.execute("INSERT OR REPLACE INTO sim_health_overrides(key, doc) VALUES (?, ?)", (key, json.dumps(doc)))


def record_switch(db: Database, provider: str, deployment_id: str, version: str, at: datetime) -> None:
    """``version`` starts taking the deployment's traffic at ``at`` (a promote, rollback or restore)."""
    db.execute(
        "INSERT INTO sim_traffic_switches(provider, deployment_id, at, version) VALUES (?, ?, ?, ?)",
        (provider, deployment_id, at.timestamp(), version),
    )


def switches(db: Database, provider: str, deployment_id: str) -> list[tuple[float, str]]:
    rows = db.query(
        "SELECT at, version FROM sim_traffic_switches WHERE provider = ? AND deployment_id = ? ORDER BY at",
        (provider, deployment_id),
    )
    return [(float(row["at"]), str(row["version"])) for row in rows]


def forget(db: Database, provider: str, deployment_id: str) -> None:
    db.execute(
        "DELETE FROM sim_traffic_switches WHERE provider = ? AND deployment_id = ?", (provider, deployment_id)
    )


def deployment_traffic(
    db: Database,
    rng_seed: int,
    key: str,
    *,
    switches_: Iterable[tuple[float, str]],
    versions: dict[str, tuple[bool, str]],
    serving: bool,
) -> Traffic:
    """A deployment's :class:`Traffic` from the stored overrides and the seed.

    ``versions`` maps a version id to (published during this run, label).
    """
    override = get_override(db, key) or {}
    routes = tuple(tuple(r) for r in override.get("routes", ())) or default_routes(rng_seed, key)
    rpm = float(override.get("rpm") or _between(60, 900, rng_seed, key, "rpm"))
    profiles: dict[str, Profile] = {}
    for version, (fresh, _label) in versions.items():
        stored = get_override(db, f"{key}:{version}")
        profiles[version] = (
            Profile.from_json(stored)
            if stored is not None
            else drawn_profile(rng_seed, f"{key}:{version}", fresh=fresh, routes=routes)  # type: ignore[arg-type]
        )
    return Traffic(
        key=key,
        rng_seed=rng_seed,
        rpm=rpm,
        routes=routes,  # type: ignore[arg-type]
        switches=list(switches_),
        profiles=profiles,
        serving=serving,
        labels={version: label for version, (_fresh, label) in versions.items()},
    )
