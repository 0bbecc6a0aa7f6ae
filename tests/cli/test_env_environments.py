"""`shipdeck env` against a server whose env rows name no environment (the official SDK's shape, the sim's
``--miosa-env sdk``): asked for preview, it says the server did not say whose the variables are, and a
delete in preview, which could remove production's, is refused before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import shipdeck
from tests.cli.test_scriptable import as_json, use_sim
from tests.conftest import ADMIN
from tests.simproc import SimServer

UNSURE = "did not say which environment these variables belong to"


@pytest.fixture
def sdk_shape(sdk_env_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    use_sim(sdk_env_sim, tmp_path, monkeypatch)
    return sdk_env_sim


@pytest.fixture
def per_environment(fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    # Its own sim: a deployment made here (no version yet) would show in the shared sim's `ls`.
    use_sim(fresh_sim, tmp_path, monkeypatch)
    return fresh_sim


def new_deployment(server: SimServer, env: dict[str, str], environment: str = "production") -> str:
    """A deployment of this test's own with ``env`` set in ``environment``; its name."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=server.miosa, headers=headers, timeout=10) as http:
        name = f"env-shape-{len(server.requests())}"
        created = http.post("/deployments", json={"name": name, "branch": "main"})
        created.raise_for_status()
        dep_id = created.json()["data"]["id"]
        http.post(
            f"/deployments/{dep_id}/env", json={"env": env, "environment": environment}
        ).raise_for_status()
    return name


def production_env(server: SimServer, name: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    return {row["name"] for row in as_json(shipdeck(capsys, "env", name, "--json"))}


def test_a_list_for_preview_says_the_server_did_not_name_its_environment(
    capsys: pytest.CaptureFixture[str], sdk_shape: SimServer
) -> None:
    dep = new_deployment(sdk_shape, {"PROD_ONLY": "production-value"})
    table = shipdeck(capsys, "env", dep, "--environment", "preview")
    assert table.code == 0 and "PROD_ONLY" in table.out
    assert UNSURE in table.err and "may be production's (the default environment), not preview's" in table.err
    row = next(line.split() for line in table.out.splitlines() if line.startswith("PROD_ONLY"))
    assert "preview" not in row and " ".join(row[2:4]) == "not stated"
    listed = shipdeck(capsys, "env", dep, "--environment", "preview", "--json")
    assert [(e["name"], e["environment"]) for e in json.loads(listed.out)] == [("PROD_ONLY", None)]
    assert UNSURE in listed.err  # on stderr: the JSON on stdout stays a list of rows
    # Production is the default environment: nothing to say.
    assert UNSURE not in shipdeck(capsys, "env", dep).err


def test_an_unset_in_preview_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], sdk_shape: SimServer
) -> None:
    dep = new_deployment(sdk_shape, {"SHARED": "production-value"})
    mark = sdk_shape.last_request_seq()
    refused = shipdeck(capsys, "env", dep, "unset", "SHARED", "--environment", "preview", "--yes")
    assert refused.code == 2, refused
    assert "Not sent: removing SHARED from preview could remove production's SHARED" in refused.err
    assert "do it in production (the default environment)" in refused.err
    sent = [r for r in sdk_shape.requests(mark) if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]
    assert sent == []
    assert "SHARED" in production_env(sdk_shape, dep, capsys)
    # Setting in preview is still sent (the SDK's set names its environment in the body), and in production
    # (the default) the unset is sent.
    assert shipdeck(capsys, "env", dep, "set", "P=1", "--environment", "preview").code == 0
    assert "P" not in production_env(sdk_shape, dep, capsys)
    removed = shipdeck(capsys, "env", dep, "unset", "SHARED", "--yes")
    assert removed.code == 0 and "SHARED" not in production_env(sdk_shape, dep, capsys)


def test_an_unset_in_preview_is_sent_where_rows_name_their_environment(
    capsys: pytest.CaptureFixture[str], per_environment: SimServer
) -> None:
    dep = new_deployment(per_environment, {"SHARED": "preview-value"}, "preview")
    listing = shipdeck(capsys, "env", dep, "--environment", "preview")
    assert UNSURE not in listing.err and "preview" in listing.out
    removed = shipdeck(capsys, "env", dep, "unset", "SHARED", "--environment", "preview", "--yes")
    assert removed.code == 0, removed
    assert as_json(shipdeck(capsys, "env", dep, "--environment", "preview", "--json")) == []
