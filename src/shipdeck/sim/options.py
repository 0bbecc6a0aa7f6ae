"""The simulator's command-line options: faults, seed kind, and the parsed option set."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shipdeck.sim.errors import OptionError


@dataclass(frozen=True)
class FaultSpec:
    latency_seconds: float = 0.0
    error5xx: float = 0.0
    rate429: float = 0.0
    drop_after_commit: float = 0.0
    drop_after_commit_once: bool = False
    ws_drop_every: int = 0
    sse_drop_every: int = 0

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """``latency=50ms,error5xx=0.05,rate429=0.02,drop_after_commit=1,drop_after_commit_once,sse_drop_every=200``"""
        values: dict[str, Any] = {}
        for raw in filter(None, (part.strip() for part in spec.split(","))):
            name, _, value = raw.partition("=")
            name = name.strip()
            value = value.strip()
            if name == "latency":
                values[name + "_seconds"] = _parse_duration(value)
            elif name in ("error5xx", "rate429", "drop_after_commit"):
                values[name] = _parse_probability(name, value)
            elif name in ("ws_drop_every", "sse_drop_every"):
                if not value.isdigit():
                    raise OptionError(f"--faults: {name} needs a whole number of events, got {value!r}")
                values[name] = int(value)
            elif name == "drop_after_commit_once":
                if value not in ("", "1", "true"):
                    raise OptionError(f"--faults: drop_after_commit_once takes no value, got {value!r}")
                values[name] = True
            else:
                known = (
                    "latency, error5xx, rate429, drop_after_commit, drop_after_commit_once, ws_drop_every, "
                )
                raise OptionError(f"--faults: unknown fault {name!r} (known: {known}sse_drop_every)")
        return cls(**values)


def _parse_duration(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", value)
    if not match:
        raise OptionError(f"--faults: latency must look like 50ms or 0.2s, got {value!r}")
    number = float(match.group(1))
    return number / 1000 if match.group(2) in (None, "ms") else number


def _parse_probability(name: str, value: str) -> float:
    try:
        probability = float(value)
    except ValueError:
        raise OptionError(f"--faults: {name} must be a probability between 0 and 1, got {value!r}") from None
    if not 0.0 <= probability <= 1.0:
        raise OptionError(f"--faults: {name} must be between 0 and 1, got {value!r}")
    return probability


def parse_seed(kind: str) -> tuple[str, int]:
    """``demo`` -> ("demo", 0); ``empty`` -> ("empty", 0); ``scale:N`` -> ("scale", N)."""
    if kind in ("demo", "empty"):
        return kind, 0
    name, _, count = kind.partition(":")
    if name == "scale" and count.isdigit() and int(count) > 0:
        return "scale", int(count)
    raise OptionError(f"--seed must be demo, empty or scale:N (N a positive number), got {kind!r}")


# The answers Miosa's env endpoints can give (SimOptions.miosa_env).
MIOSA_ENV_SHAPES = ("environments", "sdk")


@dataclass(frozen=True)
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 0
    db_path: Path | None = None  # None: in memory
    seed: str = "demo"
    speed: float = 1.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    rng_seed: int = 0
    rate_limit: int = 600  # requests per minute per token
    heartbeat_seconds: float = 15.0
    ws_ping_seconds: float = 20.0  # protocol-level pings on WebSockets (the Miteos socket)
    allow_remote: bool = False
    epoch: datetime | None = None  # None: the real current time
    # How Miosa's env endpoints answer: "environments" (each row names its environment; ?environment=
    # picks the list and the delete) or "sdk" (the official SDK's shape: rows {name, preview, created_at,
    # updated_at} with no environment, and GET /env and DELETE /env/{key} ignore ?environment=, so they
    # reach the default environment's variables; a set still takes "environment" in its body).
    miosa_env: str = "environments"  # one of MIOSA_ENV_SHAPES
