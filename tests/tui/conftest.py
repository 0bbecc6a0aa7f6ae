"""Log lines show local time: UI tests and snapshots run in UTC so they read the same anywhere."""

from __future__ import annotations

import os
import time

os.environ["TZ"] = "UTC"
time.tzset()
