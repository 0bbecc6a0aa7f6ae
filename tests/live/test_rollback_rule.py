"""The rollback rule passes over a version seen failing its users when it was last live: after v5 was
rolled back for errors and a redeploy made v6, ``r`` then ``enter`` offered v5 again, the version the
dialog itself said had failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipdeck.live.plans import AmbiguousVersion, plan_rollback, rollback_target
from shipdeck.model import Deployment, Version
from shipdeck.model.service_health import (
    HealthPoint,
    ServiceHealth,
    VersionChange,
    change_health_words,
    failed_versions,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def checkout() -> tuple[Deployment, list[Version]]:
    deployment = Deployment(id="dep_1", provider="miosa", name="checkout-api", active_version_id="ver_6")
    versions = [Version(id=f"ver_{n}", deployment_id="dep_1", number=n, state="ready") for n in (6, 5, 4, 3)]
    return deployment, versions


def hour_with_v5_failing() -> ServiceHealth:
    """v4 live, then v5 for 20 minutes at 12% errors, then v4 again (rolled back), then v6 (redeployed)."""
    start = NOW - timedelta(minutes=60)
    changes = [
        VersionChange(at=start, version_number=4),
        VersionChange(at=start + timedelta(minutes=20), version_number=5),
        VersionChange(at=start + timedelta(minutes=40), version_number=4),
        VersionChange(at=start + timedelta(minutes=55), version_number=6),
    ]

    def rate(minute: int) -> float:
        return 0.12 if 20 < minute <= 40 else 0.003

    series = [HealthPoint(at=start + timedelta(minutes=m), error_rate=rate(m)) for m in range(1, 61)]
    return ServiceHealth(
        deployment_id="dep_1", provider="miosa", series=series, version_changes=changes, as_of=NOW
    )


def test_the_versions_that_failed_when_last_live_are_named_with_the_dialogs_warning() -> None:
    _, versions = checkout()
    failed = failed_versions(hour_with_v5_failing(), versions, NOW)
    assert list(failed) == ["ver_5"]
    assert failed["ver_5"].startswith("v5 failed its users when it was last live")


def test_the_rule_passes_over_a_failed_version_and_the_plan_says_so() -> None:
    deployment, versions = checkout()
    current = versions[0]
    avoid = failed_versions(hour_with_v5_failing(), versions, NOW)
    assert rollback_target(versions, current) == versions[1]  # v5: the version before, as before
    assert rollback_target(versions, current, avoid) == versions[2]  # v4
    plan = plan_rollback(deployment, versions, avoid=avoid)
    assert plan.to is not None and plan.to.number == 4
    assert plan.notes[0].startswith("Passed over: v5 failed its users when it was last live")
    # Named by the user, the version is theirs to choose: no passing over.
    named = plan_rollback(deployment, versions, to="v5", avoid=avoid)
    assert named.to is not None and named.to.number == 5
    assert not any("Passed over" in note for note in named.notes)


def test_with_every_older_version_failed_the_rule_offers_the_version_before() -> None:
    deployment, versions = checkout()
    avoid = {"ver_5": "v5 failed", "ver_4": "v4 failed", "ver_3": "v3 failed"}
    assert rollback_target(versions, versions[0], avoid) == versions[1]
    plan = plan_rollback(deployment, versions, avoid=avoid)
    assert plan.to is not None and plan.to.number == 5
    assert not any("Passed over" in note for note in plan.notes)


def test_the_rule_passes_over_a_version_that_never_went_live() -> None:
    """v11 live after a bad v10; v9 and v8 were built with --no-promote and never served: r then enter
    offered v9, a version no user had run, as if going back."""
    at = NOW - timedelta(hours=1)
    versions = [
        Version(id="ver_11", deployment_id="dep_1", number=11, state="ready", promoted_at=at),
        Version(id="ver_10", deployment_id="dep_1", number=10, state="ready", promoted_at=at),
        Version(id="ver_9", deployment_id="dep_1", number=9, state="ready"),
        Version(id="ver_8", deployment_id="dep_1", number=8, state="ready"),
        Version(id="ver_7", deployment_id="dep_1", number=7, state="ready", promoted_at=at),
    ]
    deployment = Deployment(id="dep_1", provider="miosa", name="checkout-api", active_version_id="ver_11")
    plan = plan_rollback(deployment, versions, avoid={"ver_10": "v10 failed its users when it was last live"})
    assert plan.to is not None and plan.to.number == 7
    assert plan.passed_over == [
        "v10 failed its users when it was last live",
        "v9 never went live",
        "v8 never went live",
    ]
    # A provider that never says when versions went live: the plain rule.
    unknown = [v.model_copy(update={"promoted_at": None}) for v in versions]
    assert plan_rollback(deployment, unknown).to == unknown[1]


def test_a_number_two_versions_have_is_refused_as_ambiguous_naming_both() -> None:
    """Two versions both numbered 4: --to v4 took the first, the active one, and said 'v4 is already
    active; nothing was sent' rather than that v4 names two versions."""
    deployment = Deployment(id="dep_1", provider="miosa", name="checkout-api", active_version_id="ver_a")
    versions = [
        Version(id=f"ver_{tag}", deployment_id="dep_1", number=n, state="ready")
        for tag, n in (("a", 4), ("b", 4), ("c", 3))
    ]
    for ref in ("v4", "4"):
        with pytest.raises(AmbiguousVersion) as caught:
            plan_rollback(deployment, versions, to=ref)
        assert str(caught.value) == (
            "checkout-api has 2 versions numbered v4 (ver_a, ver_b): name one by its id; nothing was sent"
        )
    # By id, each is still one version; a number one version has is still that one.
    assert plan_rollback(deployment, versions, to="ver_b").details["to_id"] == "ver_b"
    assert plan_rollback(deployment, versions, to="v3").details["to_id"] == "ver_c"


def test_the_health_line_and_the_warning_count_the_same_ages_from_one_clock() -> None:
    """One promote dialog said "v5 (last live 5 min ago)" and "v5 failed … (9 min ago)" of the same switch:
    the line counted from the read, the warning from this machine's clock. Both now count from the
    server's time of the read moved on by the time since it, whatever this machine's clock says."""
    _, versions = checkout()
    v6, v5 = versions[0], versions[1]
    skewed = NOW + timedelta(hours=3)  # this machine's clock, three hours ahead of the server's
    line, warning = change_health_words(hour_with_v5_failing(), v6, v5, skewed, read_age=240)
    # v5 stopped serving 20 minutes before the read, which was 4 minutes ago.
    assert "v5 (last live 24 min ago)" in line, line
    assert warning is not None and "(24 min ago)" in warning, warning
    assert "v6 (live 9 min)" in line, line
