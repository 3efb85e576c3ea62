"""A Jupyter Server extension: the page `<server>/dandi/home` with the home's size now, its limits, what the hub
measured at the start, and the biggest entries of the home, with what to do about them. A server over its
soft limit, or a cleanup server, opens on it (the hub sets the default URL and the DANDI_HOME_* variables;
values/home_limits.py); any server can open it.

The page measures the home itself, in a thread, without following links, within SECONDS (a very large home
shows what it counted by then, marked as partial): the server cannot ask Prometheus (its network policy
keeps it from private addresses), and the live size is what a user cleaning up wants to see.
"""

from __future__ import annotations

import datetime
import html
import os
import time
from typing import Any

GIB = 1024**3
SECONDS = 20.0
SHOWN = 15
PAGE = "dandi/home"


def entry_sizes(root: str, deadline: float) -> tuple[dict[str, int], bool]:
    """Bytes under each top-level entry of `root` (links counted as themselves, never followed), and whether
    the walk finished before `deadline` (time.monotonic())."""
    sizes: dict[str, int] = {}
    try:
        top = list(os.scandir(root))
    except OSError:
        return sizes, True
    for entry in top:
        sizes[entry.name] = 0
        stack = [entry]
        while stack:
            if time.monotonic() > deadline:
                return sizes, False
            item = stack.pop()
            try:
                sizes[entry.name] += item.stat(follow_symlinks=False).st_size
                if item.is_dir(follow_symlinks=False):
                    stack.extend(os.scandir(item.path))
            except OSError:  # removed or unreadable meanwhile
                continue
    return sizes, True


def gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"


def render(env: dict[str, str], sizes: dict[str, int], complete: bool, lab_url: str) -> str:
    """The page, from the hub's variables and the live sizes."""
    used = sum(sizes.values())
    state = env.get("DANDI_HOME_STATE", "")
    soft, hard = int(env.get("DANDI_HOME_SOFT_LIMIT_BYTES") or 0), int(env.get("DANDI_HOME_HARD_LIMIT_BYTES") or 0)
    walk = env.get("DANDI_HOME_WALK_MINUTES", "")
    measured = int(env.get("DANDI_HOME_MEASURED_AT") or 0)
    at = datetime.datetime.fromtimestamp(measured, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: UP017
    counted = "" if complete else " (at least: still counting)"
    lines = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Your home directory</title></head><body>",
        "<h1>Your home directory</h1>",
        f"<p class='used'>It holds {gib(used)} now{counted}.</p>",
    ]
    if soft and hard:
        lines.append(f"<p class='limits'>Its limits: soft {gib(soft)}, hard {gib(hard)}.</p>")
    if state == "hard":
        lines.append(
            f"<p class='why'>When this server started, the hub had measured {gib(int(env['DANDI_HOME_USED_BYTES']))} "
            f"({at}), over the hard limit, so it started this small cleanup server. Delete what you can download "
            "again (data from DANDI, caches) and move the rest elsewhere, until the home is under the hard limit "
            "(under the soft limit, the notices go too), then stop this server (File, Hub Control Panel, Stop My "
            "Server): your next start offers every profile again. Or, on the spawn page, move your home to the "
            "archive and start with an empty one: nothing is deleted, and you can bring it back.</p>"
        )
    elif state in ("soft", "cleaned"):
        found = (
            f"the weekly report of {at[:10]} had found {gib(int(env['DANDI_HOME_USED_BYTES']))} (the hub had no "
            "fresher measurement)"
            if env.get("DANDI_HOME_SOURCE") == "report"
            else f"the hub had measured {gib(int(env['DANDI_HOME_USED_BYTES']))} ({at})"
        )
        lines.append(
            f"<p class='why'>When this server started, {found}, over the soft limit. Above the hard limit only a "
            "small cleanup server starts.</p>"
        )
    if walk:
        lines.append(f"<p class='walk'>The hub measures every home every {html.escape(walk)} minutes.</p>")
    lines += ["<table class='largest'><tr><th>entry</th><th>size</th></tr>"]
    for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:SHOWN]:
        lines.append(f"<tr><td>{html.escape(name)}</td><td>{gib(size)}</td></tr>")
    lines += [
        "</table>",
        "<p>In a terminal, <code>du -sh ~/* ~/.[!.]* | sort -h</code> shows the same. Delete with care: the hub's "
        "admins cannot promise a copy of what you delete.</p>",
        f"<p><a class='lab' href='{html.escape(lab_url)}'>Continue to JupyterLab</a></p></body></html>",
    ]
    return "\n".join(lines)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "home_usage"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    import asyncio

    from jupyter_server.auth.decorator import authorized
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    class HomeUsageHandler(JupyterHandler):  # type: ignore[misc]
        auth_resource = "contents"

        @web.authenticated
        @authorized
        async def get(self) -> None:
            home = os.path.expanduser("~")
            deadline = time.monotonic() + SECONDS
            sizes, complete = await asyncio.get_running_loop().run_in_executor(None, entry_sizes, home, deadline)
            self.finish(render(dict(os.environ), sizes, complete, url_path_join(self.base_url, "lab")))

    route = url_path_join(serverapp.web_app.settings["base_url"], PAGE)
    serverapp.web_app.add_handlers(".*$", [(route, HomeUsageHandler)])
