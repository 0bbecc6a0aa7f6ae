"""One ``ProviderSpec`` per provider: everything shipdeck derives from "which control plane is this".

The factory (:mod:`shipdeck.api.factory`) builds adapters from ``SPECS``; config validation reads the plain
row each spec builds on (:mod:`shipdeck.config.providers`: config may not import api); the CLI's
``--provider`` choices and the demo's profiles come from here too. A fourth provider adds its adapter module,
its row in ``config/providers.py`` and its spec below (plus its sandbox surface and seed under ``sim/``).

A spec names its adapter's module, imported when the adapter or its capabilities are first asked for: the
console imports only the adapter of the profile it opens (not all three, nor their HTTP and WebSocket
libraries before they are used).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from shipdeck.config.providers import PROVIDER_DEFAULTS, ProviderDefaults, ProviderName
from shipdeck.model import Capabilities, Capability

if TYPE_CHECKING:
    from shipdeck.api.common import HttpAdapter

DemoRole = Literal["console", "tasks"]


@dataclass(frozen=True)
class DemoProfile:
    """How ``shipdeck demo`` uses this provider's sandbox surface: the console itself, or its Tasks side."""

    name: str
    role: DemoRole


@dataclass(frozen=True)
class ProviderSpec:
    name: ProviderName
    module: str  # the adapter's module
    adapter_class: str  # its adapter class there, whose ``capabilities`` are the provider's
    demo: DemoProfile | None = None

    @property
    def adapter(self) -> type[HttpAdapter]:
        return cast("type[HttpAdapter]", getattr(importlib.import_module(self.module), self.adapter_class))

    @property
    def capabilities(self) -> Capabilities:
        return self.adapter.capabilities

    @property
    def defaults(self) -> ProviderDefaults:
        return PROVIDER_DEFAULTS[self.name]

    @property
    def base_url(self) -> str:
        return self.defaults.base_url

    @property
    def token_env(self) -> str:
        return self.defaults.token_env


SPECS: dict[ProviderName, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("miosa", "shipdeck.api.miosa", "MiosaAdapter", DemoProfile("demo", "console")),
        ProviderSpec("miteos", "shipdeck.api.miteos", "MiteosAdapter", DemoProfile("demo-tasks", "tasks")),
        ProviderSpec("mixpeek", "shipdeck.api.mixpeek", "MixpeekAdapter"),
    )
}


def spec_for(name: str) -> ProviderSpec | None:
    return next((spec for key, spec in SPECS.items() if key == name), None)


def demo_spec(role: DemoRole) -> ProviderSpec:
    """The provider the demo uses for ``role`` (exactly one per role)."""
    (spec,) = (s for s in SPECS.values() if s.demo is not None and s.demo.role == role)
    return spec


def deploy_targets() -> tuple[str, ...]:
    """Every hosting target some provider deploys to, in the specs' order (the CLI's --target choices;
    the adapter refuses a target its provider does not deploy to)."""
    return tuple(dict.fromkeys(t for spec in SPECS.values() for t in spec.capabilities.deploy_targets))


def check_specs() -> list[str]:
    """What is inconsistent between the specs and the config rows (empty when all agree); run by a test."""
    problems = []
    if set(SPECS) != set(PROVIDER_DEFAULTS):
        problems.append(f"specs {sorted(SPECS)} vs config rows {sorted(PROVIDER_DEFAULTS)}")
    for name, spec in SPECS.items():
        if spec.capabilities.provider != name or spec.adapter.provider != name:
            problems.append(f"{name}: capabilities or adapter name another provider")
        if spec.adapter.__module__ != spec.module:
            problems.append(f"{name}: the adapter class is not defined in {spec.module}")
        if spec.capabilities.supports(Capability.DEPLOY) and not spec.capabilities.deploy_targets:
            problems.append(f"{name}: grants deploy but names no deploy targets")
        if name in PROVIDER_DEFAULTS and spec.capabilities.supports(Capability.TASKS) != spec.defaults.tasks:
            problems.append(f"{name}: config's tasks flag disagrees with Capability.TASKS")
    return problems


__all__ = ["SPECS", "DemoProfile", "ProviderSpec", "check_specs", "demo_spec", "deploy_targets", "spec_for"]
