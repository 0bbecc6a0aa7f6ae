"""Answers the official Miosa SDK (miosa 2.19.2) reads and the house contract did not name, from a scripted
server: lists nested under ``data`` (``{"data": {"items": [...]}}``), a page's next cursor under the SDK's
other names (``next``, ``cursor``), and a redeploy answered with the Deployment."""

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


def constant(body: Any) -> Answer:
    return lambda _request: body


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


def paged(name: str, *, nested: bool = False, pages: int = 3) -> Answer:
    """Deployments ``dep_1`` .. ``dep_<pages>``, one a page, the next page's cursor under ``name``."""

    def answer(request: SeenRequest) -> Any:
        cursor = cursor_of(request)
        n = int(cursor[1:]) if cursor else 1
        following = f"p{n + 1}" if n < pages else None
        if nested:
            return {"data": {"items": [dep(n)], name: following}}
        return {"data": [dep(n)], name: following}

    return answer


@pytest.mark.parametrize("nested", [False, True], ids=["top", "nested"])
@pytest.mark.parametrize("name", ["next_cursor", "next", "cursor"])
async def test_the_sdks_cursor_names_page_on(name: str, nested: bool) -> None:
    """The SDK's pager takes the next page's cursor from ``next_cursor``, ``next`` or ``cursor``; shipdeck
    read only ``next_cursor``, so a server using another name showed its first page only."""

    def versions(request: SeenRequest) -> Any:
        cursor = cursor_of(request)
        n = int(cursor[1:]) if cursor else 1
        rows = [ver(n)]
        following = f"p{n + 1}" if n < 3 else None
        return {"data": {"items": rows, name: following}} if nested else {"data": rows, name: following}

    routes = {r"/deployments/dep_1/versions": versions, r"/deployments": paged(name, nested=nested)}
    async with hostile_server(routed(routes)) as server:
        client = adapter(server.url)
        for extras in (True, False):
            pages = [page async for page in client.iter_deployment_pages(extras=extras)]
            assert [d.id for page in pages for d in page] == ["dep_1", "dep_2", "dep_3"]
        assert [v.number for v in await client.all_versions("dep_1")] == [1, 2, 3]
        await client.aclose()
    asked = [cursor_of(r) for r in server.seen]
    assert asked == [None, "p2", "p3"] * 3


async def test_a_cursor_echoed_back_is_not_the_next_page() -> None:
    """``{"data": [...], "next_cursor": null, "cursor": "<the one sent>"}``: the page's own cursor echoed
    back ends the list; followed, it would ask for the same page again."""

    def deployments(request: SeenRequest) -> Any:
        cursor = cursor_of(request)
        if cursor is None:
            return {"data": [dep(1)], "next": "p2", "cursor": None}
        return {"data": [dep(2)], "next_cursor": None, "cursor": cursor}

    async with hostile_server(routed({r"/deployments": deployments})) as server:
        client = adapter(server.url)
        for extras in (True, False):
            pages = [page async for page in client.iter_deployment_pages(extras=extras)]
            assert [d.id for page in pages for d in page] == ["dep_1", "dep_2"]
        await client.aclose()
    assert [cursor_of(r) for r in server.seen] == [None, "p2"] * 2


@pytest.mark.parametrize("name", ["next", "cursor"])
async def test_the_paging_protections_hold_under_every_cursor_name(name: str) -> None:
    """A cursor that does not change, and a page of rows already given under a new cursor, end the list
    under the SDK's other names as under ``next_cursor``: with a clear error, except a ``cursor`` that is
    the one sent, which is that page's own echoed back and so ends the list as its last page."""

    def same_cursor(_request: SeenRequest) -> Any:
        return {"data": [dep(len(server.seen))], name: "again"}

    def same_rows(_request: SeenRequest) -> Any:
        return {"data": [dep(1)], name: f"p{len(server.seen) + 1}"}

    for answer, says in (
        (same_cursor, None if name == "cursor" else "the server gave the same page cursor twice"),
        (same_rows, "page 2 holds only rows earlier pages gave"),
    ):
        async with hostile_server(routed({r"/deployments": answer})) as server:
            client = adapter(server.url)
            if says is None:
                pages = [page async for page in client.iter_deployment_pages()]
                assert [d.id for page in pages for d in page] == ["dep_1", "dep_2"]
            else:
                with pytest.raises(ProtocolError, match=says):
                    async for _page in client.iter_deployment_pages():
                        pass
            await client.aclose()
        assert [cursor_of(r) for r in server.seen][:2] == [None, "again" if answer is same_cursor else "p2"]
        assert len(server.seen) <= 3


async def test_cursor_names_that_are_no_cursor() -> None:
    """``next_cursor`` that is no string is a ProtocolError (as before); ``next`` or ``cursor`` that is no
    string (a page number, a flag) the SDK passes over, and so does this: that page is the last."""
    bodies: list[tuple[dict[str, Any], bool | None]] = [
        ({"data": [dep(1)], "next_cursor": 5}, None),
        ({"data": [dep(1)], "next": 2, "cursor": True}, True),
        ({"data": [dep(1)], "next_cursor": "", "next": "", "cursor": "p2"}, False),
    ]
    for body, last in bodies:
        async with hostile_server(routed({r"/deployments": constant(body)})) as server:
            client = adapter(server.url)
            for read in (client.list_deployments, client.list_deployment_rows):
                if last is None:
                    with pytest.raises(ProtocolError, match="next_cursor is not a string"):
                        await read()
                else:
                    page = await read()
                    assert page.next_cursor == (None if last else "p2")
            await client.aclose()


def redeploying(answer: Any, before: list[str], after: list[str]) -> Answer:
    """A deployment whose builds are ``before`` until the redeploy is sent and ``after`` since; the
    redeploy is answered ``answer``."""
    sent: list[bool] = []

    def builds(names: list[str]) -> Any:
        return {"data": [{"id": name, "deployment_id": "dep_1", "state": "succeeded"} for name in names]}

    def route(request: SeenRequest) -> Any:
        if request.method == "POST":
            sent.append(True)
            return answer
        build = re.search(r"/builds/([^/?]+)", request.path)
        if build is not None:
            return {"data": {"id": build.group(1), "deployment_id": "dep_1", "state": "queued"}}
        return builds(after if sent else before)

    return route


def deployment_answer(current: str | None) -> dict[str, Any]:
    return {"data": {**dep(1), "state": "building", "current_build_id": current}}


@pytest.mark.parametrize(
    ("answer", "before", "after", "run"),
    [
        # The SDK's Deployment answer naming the new build.
        (deployment_answer("bld_new"), ["bld_old"], ["bld_new", "bld_old"], "bld_new"),
        # ... not listed yet: read by its id.
        (deployment_answer("bld_new"), ["bld_old"], ["bld_old"], "bld_new"),
        # Still naming the build before (the new one queued later): the one build new since.
        (deployment_answer("bld_old"), ["bld_old"], ["bld_new", "bld_old"], "bld_new"),
        (deployment_answer(None), [], ["bld_new"], "bld_new"),
        # Still naming the build before and none new listed, or two new: which is unknown, not the old one.
        (deployment_answer("bld_old"), ["bld_old"], ["bld_old"], None),
        (deployment_answer("bld_old"), ["bld_old"], ["bld_a", "bld_b", "bld_old"], None),
        # The contract's (and older servers') Build answer.
        (
            {"data": {"id": "bld_new", "deployment_id": "dep_1", "state": "queued"}},
            ["bld_old"],
            [],
            "bld_new",
        ),
    ],
)
async def test_a_redeploy_reports_its_new_build_never_the_one_before(
    answer: Any, before: list[str], after: list[str], run: str | None
) -> None:
    """The SDK's redeploy answers a Deployment. Read as one, the run reported was its current_build_id,
    which a server that queues the build later still has as the build before: the console and the env
    editor said "started: bld_old (succeeded)", an old build's run."""
    routes = {r"/deployments/dep_1": redeploying(answer, before, after)}
    async with hostile_server(routed(routes)) as server:
        client = adapter(server.url)
        started = await client.redeploy("dep_1", idempotency_key="k1")
        await client.aclose()
    assert (started.id if started is not None else None) == run
    assert started is None or (started.deployment_id == "dep_1" and started.stages)
    posts = [r for r in server.seen if r.method == "POST"]
    assert len(posts) == 1 and posts[0].headers["idempotency-key"] == "k1"


async def test_a_redeploy_whose_builds_cannot_be_read_first_is_sent_and_its_run_unknown() -> None:
    """Without the builds known before, no build listed after can be told to be the new one: the redeploy
    goes (the read is no part of the change), and its run is unknown."""

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if request.method == "POST":
            writer.write(response(202, json.dumps(deployment_answer("bld_old")).encode()))
        else:
            writer.write(response(404, b'{"error": {"code": "NOT_FOUND", "message": "no builds"}}'))

    async with hostile_server(handler) as server:
        client = adapter(server.url)
        assert await client.redeploy("dep_1") is None
        await client.aclose()
    assert [r.method for r in server.seen].count("POST") == 1
