"""`shipdeck ls --all-profiles [--json]`: every profile's deployments, listed in parallel, each with its
profile and provider; a profile that fails is named (on stderr, and in the JSON's "failed") and does not
hold back the others. The exit code is 0 only if every profile answered."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from shipdeck.api.errors import ShipdeckError
from shipdeck.cli.commands import sort_deployments, with_version_numbers
from shipdeck.cli.output import age, error_line, print_json, print_table, state_text, to_jsonable
from shipdeck.config.errors import ConfigError
from shipdeck.config.loader import ShipdeckConfig, build_profile
from shipdeck.model import Deployment

# Seconds past --timeout before one profile's listing as a whole is cut.
GRACE = 1.0
FAILED_EXIT = 1


@dataclass
class ProfileListing:
    profile: str
    provider: str
    deployments: list[Deployment] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0


async def _list_one(config: ShipdeckConfig, name: str, args: argparse.Namespace) -> ProfileListing:
    from shipdeck.api.factory import make_adapter

    provider = config.profiles[name].provider
    try:
        profile = build_profile(config, name, read_only=True, with_tasks=False)
    except ConfigError as exc:
        return ProfileListing(name, provider, error=exc.message, exit_code=int(exc.exit_code))
    listing = ProfileListing(name, profile.provider)
    try:
        adapter = make_adapter(profile, timeout=min(15.0, args.timeout), deadline=args.timeout)
        async with adapter, asyncio.timeout(args.timeout + GRACE):
            # 100: the smallest page limit among the providers (Miteos refuses more).
            async for page in adapter.iter_deployment_pages(limit=100):
                listing.deployments.extend(page)
            # As plain `ls`: Miosa's list names the active version by id only.
            listing.deployments = await with_version_numbers(adapter, listing.deployments)
    except ShipdeckError as exc:
        listing.error, listing.exit_code = str(exc), int(exc.exit_code)
    except TimeoutError:
        listing.error, listing.exit_code = f"did not finish within --timeout {args.timeout:g} s", 5
    return listing


def _none_listed(listings: list[ProfileListing]) -> str:
    """What the table says when it has no rows: only of the profiles that were read (stderr names the
    others). Nothing when none was: "no deployments" claimed an empty fleet that was never read."""
    if not any(listing.error is not None for listing in listings):
        return "no deployments"
    read = [listing.profile for listing in listings if listing.error is None]
    return f"no deployments in {', '.join(read)}" if read else ""


async def list_all_profiles(config: ShipdeckConfig, args: argparse.Namespace) -> int:
    if not config.profiles:
        error_line("no profiles in the config (see `shipdeck config path`)")
        return 2
    sort = getattr(args, "sort", None)
    if sort == "health":
        error_line(
            "ls --all-profiles cannot sort by health (it reads no health); use `shipdeck --profile NAME ls "
            "--sort health`, or the console's fleet (`shipdeck`, then s)"
        )
        return 2
    listings = await asyncio.gather(*(_list_one(config, name, args) for name in config.profiles))
    failed = [listing for listing in listings if listing.error is not None]
    rows = [(listing, d) for listing in listings for d in listing.deployments]
    if sort is not None or not args.json:
        # The table is sorted (by name unless told), as plain `ls`; --json keeps each server's order.
        ranked = {id(d): i for i, d in enumerate(sort_deployments([d for _, d in rows], sort or "name"))}
        rows.sort(key=lambda row: (ranked[id(row[1])], row[0].profile))
    if args.json:
        shown: list[dict[str, Any]] = [
            {"profile": listing.profile, "provider": listing.provider, **to_jsonable(d)}
            for listing, d in rows
        ]
        failures = [{"profile": f.profile, "provider": f.provider, "error": f.error} for f in failed]
        print_json({"deployments": shown, "failed": failures}, sys.stdout)
    else:
        table = [
            [
                listing.profile,
                listing.provider,
                d.name + (f" ({d.environment})" if d.environment else ""),
                state_text(d.state),
                f"v{d.active_version_number}" if d.active_version_number is not None else "-",
                d.url or "-",
                age(d.updated_at or d.created_at),
                d.id,
            ]
            for listing, d in rows
        ]
        headers = ["PROFILE", "PROVIDER", "NAME", "STATE", "VERSION", "URL", "UPDATED", "ID"]
        print_table(headers, table, sys.stdout, empty=_none_listed(listings))
    for listing in failed:
        error_line(f"profile {listing.profile} ({listing.provider}) failed: {listing.error}")
    if failed:
        return next((f.exit_code for f in failed if f.exit_code), FAILED_EXIT)
    return 0
