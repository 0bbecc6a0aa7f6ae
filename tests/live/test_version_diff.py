"""The promote diff, decided once in live/plans.py for the console's dialog and the CLI's preview."""

from __future__ import annotations

from shipdeck.live.plans import DIFF_FILES_SHOWN, version_diff
from shipdeck.model import Version


def version(number: int, **fields: object) -> Version:
    return Version(id=f"app:v{number}", deployment_id="app@production", number=number, **fields)  # type: ignore[arg-type]


def test_lists_version_message_author_and_each_changed_file() -> None:
    current = version(1, author="ana", message="fix header", source_files={"a.js": "x\ny", "old.txt": "1"})
    target = version(2, author="ana", message="new footer", source_files={"a.js": "x\nz\nw", "new.txt": "1"})
    assert version_diff(current, target) == [
        "version  v1 -> v2",
        "message  fix header -> new footer",
        "author   ana (unchanged)",
        "files    1 added, 1 modified, 1 removed, 0 unchanged",
        "  + new.txt",
        "  ~ a.js (+2 -1)",
        "  - old.txt",
    ]


def test_without_source_files_on_one_side_says_so_and_lists_no_files() -> None:
    current = version(3, author="bo", message=None)
    target = version(4, author="cy", message="m", source_files={"a.js": "1"})
    assert version_diff(current, target) == [
        "version  v3 -> v4",
        "message  (none) -> m",
        "author   bo -> cy",
        "files    v3 carries no source files: no file diff",
    ]
    assert not any(line.startswith("files") for line in version_diff(version(1), version(2)))


def test_a_long_file_list_is_cut_and_says_how_many_more() -> None:
    many = {f"f{i}.js": "new" for i in range(DIFF_FILES_SHOWN + 5)}
    lines = version_diff(version(1, source_files={}), version(2, source_files=many))
    assert lines[-1] == "  ... and 5 more"
    assert len([line for line in lines if line.startswith("  + ")]) == DIFF_FILES_SHOWN


def test_source_files_that_are_not_a_map_of_text_are_ignored() -> None:
    lines = version_diff(version(1, source_files="oops"), version(2, source_files={"a": 1, "b": "x"}))
    assert lines[-1] == "files    v1 carries no source files: no file diff"
