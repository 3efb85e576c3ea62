"""The weekly report job's view of the hub (values/home_governance.py): every user with their last activity,
servers and groups, from the hub's REST API (the job's service token may read exactly that), and each
user's home directory name as the hub makes it."""

from __future__ import annotations

import datetime
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class User:
    name: str
    home: str  # the directory under home/, as the hub names it
    admin: bool
    running: bool
    last_activity: datetime.datetime | None
    groups: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()  # of the servers running or starting (the hub's spawner records each)


def hub_users(api_url: str, token: str, home_of: Any) -> list[User]:
    """Every user with their last activity and whether a server runs, from the hub's REST API."""
    users, offset = [], 0
    while True:
        request = urllib.request.Request(
            f"{api_url.rstrip('/')}/users?offset={offset}&limit=200&include_stopped_servers",
            headers={"Authorization": f"token {token}", "Accept": "application/jupyterhub-pagination+json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # the hub's Service, in the cluster
            page = json.load(response)
        for item in page["items"]:
            last = item.get("last_activity")
            active = [s for s in (item.get("servers") or {}).values() if s.get("ready") or s.get("pending")]
            users.append(
                User(
                    item["name"],
                    home_of(item["name"]),
                    bool(item.get("admin")),
                    bool(active),
                    datetime.datetime.fromisoformat(last.replace("Z", "+00:00")) if last else None,
                    tuple(item.get("groups") or ()),
                    tuple(str((s.get("user_options") or {}).get("profile", "")) for s in active),
                )
            )
        if not page["_pagination"].get("next"):
            return users
        offset = page["_pagination"]["next"]["offset"]


def home_namer(scheme: str) -> Any:
    """The hub's name for a user's home directory (hub.homeNames), with KubeSpawner's own slug code."""
    import importlib.util

    import kubespawner  # installed without its dependencies; only its slug module is loaded

    spec = importlib.util.spec_from_file_location("slugs", Path(kubespawner.__path__[0]) / "slugs.py")
    assert spec and spec.loader
    slugs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slugs)
    if scheme == "escaped":
        return lambda login: slugs.escape_slug(login.lower())
    return lambda login: slugs.safe_slug(login.lower(), max_length=48)
