"""The publish form's values, remembered per deployment in a small JSON file under the state dir.

Written atomically (a temporary file in the same directory, fsynced, then renamed over the old one), so a
crash leaves either the old file or the new one. A file that cannot be read is treated as empty: the form
then starts blank, which loses a convenience, never data the user is about to send.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from shipdeck.config.paths import ensure_private_dir, state_dir
from shipdeck.model import PUBLISH_INPUT_FIELDS, PublishRequest

FILE_NAME = "publish-forms.json"
# The form's fields but the message (it says what changed this time); none of them is secret.
REMEMBERED_FIELDS = tuple(name for name in PUBLISH_INPUT_FIELDS if name != "message")


class PublishMemory:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / FILE_NAME

    def _read_all(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    def recall(self, deployment_id: str) -> PublishRequest:
        """The last values used for this deployment (defaults when none or unreadable)."""
        saved = self._read_all().get(deployment_id)
        if not isinstance(saved, dict):
            return PublishRequest()
        fields = {k: v for k, v in saved.items() if k in REMEMBERED_FIELDS}
        try:
            return PublishRequest.model_validate(fields)
        except ValueError:
            return PublishRequest()

    def remember(self, deployment_id: str, request: PublishRequest) -> None:
        data = self._read_all()
        data[deployment_id] = request.model_dump(include=set(REMEMBERED_FIELDS), mode="json")
        self._write_atomically(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))

    def _write_atomically(self, text: str) -> None:
        directory = ensure_private_dir(self.path.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=".publish-forms-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
