"""The hub's side of home governance, run by the hub as z2jh `hub.extraConfig` (where `c` is the hub's
config): the spawn form's home choices learn what the weekly report (values/home_governance.py) knew of the
user's archives, from the notices it leaves in `admin/notices/`, the one directory the hub mounts,
read-only. (The home's size against its limits is values/home_limits.py's, which reads the same notices.)
No file is moved here: the moves run in the user's own pod (values/home_moves.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# The report's notices: homes over the lowest soft limit (size, largest entries), and each home's snapshots.
NOTICE_FILE = "usage.json"
ARCHIVES_NOTICE = "archives.json"


def archives_notice(notices: Path, home: str) -> dict[str, Any] | None:
    """What the newest report knew of a home's snapshots (the spawn page's "bring back" choice), else None."""
    path = notices / ARCHIVES_NOTICE
    if not path.is_file():
        return None
    latest = json.loads(path.read_text())
    known = latest["archives"].get(home)
    return {**known, "as_of": latest["as_of"]} if known else None


def configure_hub(c: Any, notices: Path, home_template: str) -> None:
    """In the hub: give the spawn form's home choices what the report knew of the user's archives."""

    def home_of(spawner: Any) -> str:
        return spawner._expand_user_properties(home_template).split("/", 1)[1]

    c.DandiKubeSpawner.home_archives_of = lambda spawner: archives_notice(notices, home_of(spawner))


# Where the hub finds the notices (the program mounts them; components/home_governance.py).
HUB_NOTICES = Path("/srv/home-notices")

if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    configure_hub(c, HUB_NOTICES, os.environ["DANDIHUB_HOME_TEMPLATE"])  # type: ignore[name-defined]  # noqa: F821
