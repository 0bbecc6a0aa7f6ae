"""``shipdeck sim``: parse options, prepare the database, serve, print the ready lines, stop on Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import socket
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import uvicorn

from shipdeck.sim.core import (
    MIOSA_ENV_SHAPES,
    PROVIDER_BASE_PATHS,
    FaultSpec,
    OptionError,
    SimContext,
    SimOptions,
    is_loopback,
    parse_seed,
    tokens_for,
)

READY_LINE = "shipdeck sim ready (Ctrl-C to stop)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shipdeck sim", description="Run the sandbox control plane (Miosa, Miteos, Mixpeek) on loopback."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (loopback unless --allow-remote)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (0: a free port)")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db", type=Path, help="SQLite file; state survives restarts")
    store.add_argument("--memory", action="store_true", help="keep state in memory (the default)")
    parser.add_argument(
        "--seed", default="demo", help="demo | empty | scale:N (seeds an empty database only)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--faults", default="", help="e.g. latency=50ms,error5xx=0.05,drop_after_commit=0.05")
    parser.add_argument(
        "--rng-seed", type=int, default=0, help="seed of every random choice (data and faults)"
    )
    parser.add_argument("--rate-limit", type=int, default=600, help="requests per minute per token")
    parser.add_argument(
        "--heartbeat", type=float, default=15.0, help="seconds between SSE heartbeat comments"
    )
    parser.add_argument(
        "--ws-ping", type=float, default=20.0, help="seconds between WebSocket protocol pings"
    )
    parser.add_argument("--epoch", help="ISO 8601 instant the simulated clock starts at (default: now)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    parser.add_argument(
        "--miosa-env",
        choices=MIOSA_ENV_SHAPES,
        default="environments",
        help="Miosa env rows: 'environments' (each names its environment, ?environment= is honoured) or "
        "'sdk' (the official SDK's shape: no environment in rows; list and delete ignore ?environment=)",
    )
    return parser


def parse_options(argv: Sequence[str]) -> SimOptions:
    args = _parser().parse_args(list(argv))
    if not (args.allow_remote or _is_loopback_host(args.host)):
        raise OptionError(
            f"--host {args.host} is not a loopback address; add --allow-remote to serve it anyway"
        )
    if not 0 <= args.port <= 65535:
        raise OptionError(f"--port must be between 0 and 65535, got {args.port}")
    if args.speed <= 0:
        raise OptionError(f"--speed must be positive, got {args.speed}")
    if args.rate_limit <= 0:
        raise OptionError(f"--rate-limit must be positive, got {args.rate_limit}")
    if args.heartbeat <= 0:
        raise OptionError(f"--heartbeat must be positive, got {args.heartbeat}")
    if args.ws_ping <= 0:
        raise OptionError(f"--ws-ping must be positive, got {args.ws_ping}")
    parse_seed(args.seed)
    return SimOptions(
        host=args.host,
        port=args.port,
        db_path=args.db,
        seed=args.seed,
        speed=args.speed,
        faults=FaultSpec.parse(args.faults),
        rng_seed=args.rng_seed,
        rate_limit=args.rate_limit,
        heartbeat_seconds=args.heartbeat,
        ws_ping_seconds=args.ws_ping,
        allow_remote=args.allow_remote,
        epoch=_parse_epoch(args.epoch) if args.epoch else None,
        miosa_env=args.miosa_env,
    )


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return is_loopback(host)


def _parse_epoch(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(
            f"--epoch must be an ISO 8601 instant like 2026-01-15T09:00:00Z, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: Sequence[str]) -> int:
    try:
        options = parse_options(argv)
    except OptionError as exc:
        print(f"shipdeck sim: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse already printed its message
        return int(exc.code or 0)
    logging.basicConfig(level=logging.WARNING, format="shipdeck sim: %(levelname)s %(message)s")
    try:
        return asyncio.run(_serve(options))
    except KeyboardInterrupt:
        return 0
    except (OSError, sqlite3.Error, OptionError) as exc:
        print(f"shipdeck sim: {exc}", file=sys.stderr)
        return 1


async def _serve(options: SimOptions) -> int:
    # Imported here so that option errors are reported without loading the providers.
    from shipdeck.sim.app import PROVIDERS, build_app, prepare
    from shipdeck.sim.gateway import DroppableH11Protocol

    if options.db_path is not None:
        options.db_path.parent.mkdir(parents=True, exist_ok=True)
    ctx = SimContext(options)
    prepare(ctx)
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(ctx),
        http=DroppableH11Protocol,
        ws="websockets-sansio",
        ws_ping_interval=options.ws_ping_seconds,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = _Server(config, ctx)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            await serving
            return 1
        await asyncio.sleep(0.02)
    host = f"[{options.host}]" if ":" in options.host else options.host
    for module in PROVIDERS:
        name = module.PROVIDER
        url = f"http://{host}:{port}{PROVIDER_BASE_PATHS[name]}"
        print(f"{name:<8} {url:<34} tokens: {' '.join(tokens_for(name))}", flush=True)
    print(READY_LINE, flush=True)
    await serving
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, telling the sandbox when it is asked to stop (so open streams end quietly)."""

    def __init__(self, config: uvicorn.Config, ctx: SimContext) -> None:
        super().__init__(config)
        self.ctx = ctx

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.ctx.stopping = True
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The open streams end now (each closes its response properly, see GatewayMiddleware); the other
        # requests in flight still get uvicorn's graceful timeout to finish.
        for task in list(self.ctx.open_streams):
            task.cancel()
        await super().shutdown(sockets=sockets)
