"""Answers the official Miosa SDK (miosa 2.19.2) reads and the house contract did not name, from a scripted
server: lists nested under ``data`` (``{"data": {"items": [...]}}``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from shipdeck.api.errors import ProtocolError
from shipdeck.api.miosa import MiosaAdapter
from shipdeck.api.transport import Transport
from shipdeck.config.profile import Secret
from tests.api.hostile import SeenRequest, Writer, hostile_server, response

Answer = Callable[[SeenRequest], Any]


def adapter(url: str) -> MiosaAdapter:
    transport = Transport(url, Secret("msk_x"), provider="miosa", profile_name="t", timeout=2.0, deadline=5.0)
    return MiosaAdapter(transport)


def routed(routes: dict[str, Answer]) -> Callable[[SeenRequest, Writer], Any]:
    """A handler answering each request with the JSON of the first route whose pattern its path matches."""

    async def handler(request: SeenRequest, writer: Writer) -> None:
        for pattern, answer in routes.items():
            if re.search(pattern, request.path):
                writer.write(response(200, json.dumps(answer(request)).encode()))
                return
        writer.write(response(404, b'{"error": {"code": "NOT_FOUND", "message": "no route"}}'))

    return handler


def cursor_of(request: SeenRequest) -> str | None:
    found = re.search(r"[?&]cursor=([^&]*)", request.path)
    return found.group(1) if found else None


def dep(n: int) -> dict[str, Any]:
    return {"id": f"dep_{n}", "tenant_id": "t", "name": f"app-{n}", "slug": f"app-{n}", "state": "running"}


def ver(n: int) -> dict[str, Any]:
    return {"id": f"ver_{n}", "deployment_id": "dep_1", "version_number": n, "state": "ready"}


async def test_lists_nested_under_data_are_read_as_the_sdk_reads_them() -> None:
    """Every SDK list method reads ``{"data": {"items": [...]}}`` and ``{"data": {"<resource>": [...]}}``;
    shipdeck refused both ("expected a list, got an object")."""
    routes: dict[str, Answer] = {
        r"/deployments/dep_1/versions": lambda _r: {"data": {"versions": [ver(2), ver(1)]}},
        r"/deployments/dep_1/releases": lambda _r: {"data": {"items": [{"id": "rel_1", "version_id": "v"}]}},
        r"/deployments/dep_1/builds": lambda _r: {
            "data": {"builds": [{"id": "bld_1", "state": "succeeded"}]}
        },
        r"/deployments/dep_1/domains": lambda _r: {
            "data": {"domains": [{"id": "dom_1", "domain": "a.example.com", "status": "active"}]}
        },
        r"/deployments/dep_1/env": lambda _r: {"data": {"items": [{"key": "A", "value": "***"}]}},
        r"/deployments/dep_1/runtime-instances": lambda _r: {
            "data": {"runtime_instances": [{"id": "ri_1", "deployment_id": "dep_1", "status": "running"}]}
        },
        r"/deployments(\?|$)": lambda _r: {"data": {"deployments": [dep(1), dep(2)], "total": 2}},
    }
    async with hostile_server(routed(routes)) as server:
        client = adapter(server.url)
        page = await client.list_deployments()
        assert [d.id for d in page.items] == ["dep_1", "dep_2"] and page.total == 2
        rows = await client.list_deployment_rows()
        assert [d.id for d in rows.items] == ["dep_1", "dep_2"] and not rows.items[0].model_extra
        assert [v.number for v in (await client.list_versions("dep_1")).items] == [2, 1]
        assert [r.id for r in await client.list_releases("dep_1")] == ["rel_1"]
        assert [b.id for b in await client.list_builds("dep_1")] == ["bld_1"]
        assert [d.name for d in await client.list_domains("dep_1")] == ["a.example.com"]
        assert [e.name for e in await client.list_env("dep_1")] == ["A"]
        assert [i.id for i in await client.list_runtime_instances("dep_1")] == ["ri_1"]
        await client.aclose()


async def test_a_nested_page_cursor_beside_the_items_is_followed() -> None:
    """``{"data": {"items": [...], "next_cursor": "c2"}}``: the cursor beside the items pages on."""

    def deployments(request: SeenRequest) -> Any:
        if cursor_of(request) is None:
            return {"data": {"items": [dep(1)], "next_cursor": "c2"}}
        return {"data": {"items": [dep(2)], "next_cursor": None}}

    async with hostile_server(routed({r"/deployments": deployments})) as server:
        client = adapter(server.url)
        for extras in (True, False):
            pages = [page async for page in client.iter_deployment_pages(extras=extras)]
            assert [d.id for page in pages for d in page] == ["dep_1", "dep_2"]
        await client.aclose()
    assert [cursor_of(r) for r in server.seen] == [None, "c2", None, "c2"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"data": {"deployment": dep(1)}}, "no list under 'data', 'items', 'deployments'"),
        ({"data": {"items": "dep_1"}}, "expected a list, got an object"),
        ({"data": {"items": [dep(1), "dep_2"]}}, "item 1 is a string, expected an object"),
        ({"data": "nope"}, "expected a list, got an object"),
    ],
)
async def test_other_shapes_are_still_refused_with_a_clear_error(body: Any, says: str) -> None:
    async with hostile_server(routed({r"/deployments": lambda _r: body})) as server:
        client = adapter(server.url)
        for read in (client.list_deployments, client.list_deployment_rows):
            with pytest.raises(ProtocolError, match=re.escape(says)):
                await read()
        await client.aclose()
