from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simproc import SimServer, running_sim

ADMIN = "msk_u_demo_admin"
READONLY = "msk_u_demo_readonly"
MITEOS_TOKEN = "mt_test_demo"
MIXPEEK_TOKEN = "sk_demo"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto``: two per core. Most tests wait on a sandbox, a stream or a poll rather than
    compute, so one worker per core left the cores half idle (2 cores: 7 min 27 s with 2 workers, 4 min
    48 s with 4, for the same suite)."""
    return 2 * (os.cpu_count() or 1)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the developer's real config, state or audit log."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("SHIPDECK_CONFIG", raising=False)
    monkeypatch.delenv("SHIPDECK_PROFILE", raising=False)
    for var in ("MIOSA_API_KEY", "MITEOS_API_KEY", "MIXPEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:
    """One shared demo-seeded simulator for tests that only read, or that change only what they create."""
    with running_sim(speed=50.0) as server:
        yield server


@pytest.fixture(scope="session")
def sdk_env_sim() -> Iterator[SimServer]:
    """A demo-seeded simulator whose Miosa env answers in the official SDK's shape (``--miosa-env sdk``):
    rows name no environment, and a list or a delete ignores ``?environment=`` (the default one's)."""
    with running_sim(["--miosa-env", "sdk"], speed=50.0) as server:
        yield server


@pytest.fixture
def fresh_sim(tmp_path: Path) -> Iterator[SimServer]:
    """A simulator of this test's own, on a database file in tmp_path."""
    with running_sim(db_path=tmp_path / "sim.db", speed=50.0) as server:
        yield server
