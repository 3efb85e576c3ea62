"""The hub's side of home governance, run by the hub as z2jh `hub.extraConfig` (where `c` is the hub's
config): the spawn page tells a user over the soft limit their usage and how to clean up, and the spawn
form's home choices learn what the report knew of the user's archives, both from the notices the weekly
report (values/home_governance.py) leaves in `admin/notices/`, the one directory the hub mounts, read-only.
No file is moved here: the moves run in the user's own pod (values/home_moves.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GIB = 1024**3
NOTICE_FILE = "usage.json"
# Each home's snapshots as of the report, for the spawn page's "bring back" choice.
ARCHIVES_NOTICE = "archives.json"


def usage_notice(notices: Path, home: str, soft_limit_gib: float) -> dict[str, Any] | None:
    """What the spawn page tells a user over the soft limit (from the newest report's notices), else None."""
    path = notices / NOTICE_FILE
    if not path.is_file():
        return None
    latest = json.loads(path.read_text())
    used = latest["over_soft_limit"].get(home)
    if used is None or used <= soft_limit_gib * GIB:
        return None
    return {"used_gib": round(used / GIB, 1), "limit_gib": soft_limit_gib, "as_of": latest["as_of"]}


def archives_notice(notices: Path, home: str) -> dict[str, Any] | None:
    """What the newest report knew of a home's snapshots (the spawn page's "bring back" choice), else None."""
    path = notices / ARCHIVES_NOTICE
    if not path.is_file():
        return None
    latest = json.loads(path.read_text())
    known = latest["archives"].get(home)
    return {**known, "as_of": latest["as_of"]} if known else None


def configure_hub(c: Any, notices: Path, home_template: str, soft_limit_gib: float) -> None:
    """In the hub: tell users over the soft limit, and give the spawn form's home choices what the report
    knew of their archives (the moves run in the user's own pod, not here)."""

    def home_of(spawner: Any) -> str:
        return spawner._expand_user_properties(home_template).split("/", 1)[1]

    def home_usage(user: Any) -> dict[str, Any] | None:
        return usage_notice(notices, home_of(user.spawner), soft_limit_gib) if user is not None else None

    # Added to the template variables hub.config set (the banner), not replacing them.
    c.JupyterHub.template_vars = {**c.JupyterHub.get("template_vars", {}), "home_usage": home_usage}
    c.DandiKubeSpawner.home_archives_of = lambda spawner: archives_notice(notices, home_of(spawner))


# Where the hub finds the notices and the policy (the program mounts both; components/home_governance.py).
HUB_NOTICES, HUB_POLICY = Path("/srv/home-notices"), Path("/usr/local/etc/jupyterhub/home-governance/policy.json")

if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    with open(HUB_POLICY) as policy:
        SOFT_LIMIT_GIB = json.load(policy)["soft_limit_gib"]
    configure_hub(c, HUB_NOTICES, os.environ["DANDIHUB_HOME_TEMPLATE"], SOFT_LIMIT_GIB)  # type: ignore[name-defined]  # noqa: F821
