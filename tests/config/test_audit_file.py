"""The audit log file: appended to only as a regular file of its own, never through a symbolic link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shipdeck.config.audit import AuditLog


@pytest.mark.skipif(os.name != "posix", reason="POSIX symbolic links and modes")
def test_a_symlinked_audit_log_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    # shipdeck appended to the link's target and changed its mode to 0600.
    target = tmp_path / "someone-elses.log"
    target.write_text("theirs\n")
    target.chmod(0o644)
    link = tmp_path / "audit.jsonl"
    link.symlink_to(target)
    log = AuditLog(link, profile="p", provider="miosa")
    with pytest.raises(OSError) as info:
        log.intent("rollback", "web")
    assert info.value.strerror == "it is a symbolic link; give audit_log the file itself, not a link to it"
    assert target.read_text() == "theirs\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_regular_audit_log_is_still_appended_to_and_tightened(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)
    AuditLog(path, profile="p", provider="miosa").intent("rollback", "web")
    assert '"phase": "intent"' in path.read_text()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_audit_says_what_a_hold_and_a_redeploy_changed() -> None:
    """A hold and its way back were both 'update  -', and a redeploy 'v4 -> -'."""
    from shipdeck.config.audit import change_of

    def hold(before: bool, after: bool) -> dict[str, object]:
        return {"action": "update", "details": {"auto_deploy": {"from": before, "to": after}}}

    assert change_of(hold(True, False)) == "auto-deploy on -> off"
    assert change_of(hold(False, True)) == "auto-deploy off -> on"
    assert change_of({"action": "redeploy", "details": {"from": "v4"}}) == "rebuild of v4"
    assert change_of({"action": "rollback", "details": {"from": "v5", "to": "v4"}}) == "v5 -> v4"
