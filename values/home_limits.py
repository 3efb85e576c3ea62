"""Soft and hard limits on each user's home, with a way out: a rule of the hub's spawner (values/jupyterhub_access.py,
`menu_rules`), run by the hub as z2jh `hub.extraConfig` (where `c` is the hub's config) after the access file.

Before the spawn form and before each start, the hub asks Prometheus for the size of the user's home as the
usage exporter last measured it (prometheus-dirsize-exporter, walking every home every
homes.walkEveryMinutes) and when it did, and compares it with the user's limits (a per-user override, else
the most generous of their groups', else the stack's; admins have none):

- under the soft limit: the user's menu as it is;
- over the soft limit: the same menu, a notice on the spawn page, and the server opens on a page with the
  home's usage (values/singleuser/home_usage.py), which links on to JupyterLab;
- over the hard limit: only the cleanup profile (small, no GPU, the home mounted), which opens on that page;
  any other choice is refused, saying why and how to get under;
- over the hard limit, but a cleanup server of the user stopped after that measurement: the full menu again
  with a notice, until the next walk has measured the home (so cleaning up never waits for the exporter);
- no answer from Prometheus (or limits without it), or no measurement of the home: the full menu, and the
  hub logs it; the spawn page and the server still say when the weekly report found the home over its soft
  limit. A user is never kept out because the measuring failed, and the weekly report never narrows a menu.

The weekly report (values/home_governance.py) leaves, for each home over the lowest soft limit of any user,
its size and largest entries in the notices the hub mounts; the spawn page lists those entries.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 1024**3
CLEANUP = "cleanup"  # stackconfig/home_limits.py CLEANUP_SLUG
# The exporter's gauges (prometheus-dirsize-exporter 3.2, prometheus_dirsize_exporter/metrics.py): the bytes
# under each home, and when the walk last measured it (a Unix time in seconds, despite the name: exporter.py
# sets it to time.time()). Both are labelled `directory` with the home's name (the basename of each
# directory under the exporter's root, exporter.py get_dir_info).
SIZE, WALKED = "dirsize_total_size_bytes", "dirsize_last_updated_ns"
# How long the walk of that home took, in seconds (exporter.py sets it only with
# --enable-detailed-processing-time-metric, which the program passes): the walk began that long before it
# ended, and a file deleted after it began may still be counted.
WALK_SECONDS = "dirsize_processing_time"
ASK_SECONDS = 5.0
log = logging.getLogger("jupyterhub.home_limits")


@dataclass(frozen=True)
class Usage:
    bytes: int
    walked_at: float  # Unix time the walk that measured it ended
    walk_started: float = 0.0  # and began (walked_at without the walk's duration)


@dataclass(frozen=True)
class Verdict:
    """Where a user's home stands: exempt (admins), unmeasured, under, soft, hard or cleaned (over the
    hard limit when measured, but a cleanup server stopped since)."""

    state: str
    used_bytes: int = 0
    soft_bytes: int = 0
    hard_bytes: int = 0
    walked_at: float = 0.0
    walk_every_minutes: int = 0
    largest: tuple[tuple[str, int], ...] = ()  # the home's largest entries at the weekly report
    largest_as_of: str = ""
    # Whose measurement: the usage exporter's (through Prometheus), or, without it, the weekly report's.
    source: str = "exporter"

    def page(self) -> dict[str, Any] | None:
        """What the spawn page shows (values/templates/home_limits.html); None: no measurement to go by (the
        page may show the weekly report's notice instead)."""
        if self.state in ("exempt", "unmeasured"):
            return None
        return {
            "state": self.state,
            "used_gib": round(self.used_bytes / GIB, 1),
            "soft_gib": round(self.soft_bytes / GIB, 1),
            "hard_gib": round(self.hard_bytes / GIB, 1),
            "as_of": datetime.datetime.fromtimestamp(self.walked_at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "walk_every_minutes": self.walk_every_minutes,
            "largest": [{"name": name, "gib": round(size / GIB, 1)} for name, size in self.largest],
            "largest_as_of": self.largest_as_of,
            "source": self.source,
        }

    def environment(self) -> dict[str, str]:
        """What the server's usage page reads (values/singleuser/home_usage.py)."""
        return {
            "DANDI_HOME_STATE": self.state,
            "DANDI_HOME_USED_BYTES": str(self.used_bytes),
            "DANDI_HOME_SOFT_LIMIT_BYTES": str(self.soft_bytes),
            "DANDI_HOME_HARD_LIMIT_BYTES": str(self.hard_bytes),
            "DANDI_HOME_MEASURED_AT": str(int(self.walked_at)),
            "DANDI_HOME_WALK_MINUTES": str(self.walk_every_minutes),
            "DANDI_HOME_SOURCE": self.source,
        }


def limits_for(settings: dict[str, Any], login: str, groups: set[str], admin: bool) -> tuple[float, float] | None:
    """(soft, hard) in GiB for a user: their own override, else the most generous of their groups', else the
    stack's; None for admins."""
    if admin:
        return None
    own = settings["users"].get(login.lower())
    if own is not None:
        return own[0], own[1]
    found = [settings["groups"][g] for g in groups if g in settings["groups"]]
    if not found:
        return settings["soft_limit_gib"], settings["hard_limit_gib"]
    return max(f[0] for f in found), max(f[1] for f in found)


@dataclass(frozen=True)
class Reported:
    """What the newest weekly report left in the notices for one home."""

    bytes: int
    largest: tuple[tuple[str, int], ...]
    as_of: str  # the report's day


def judge(
    limits: tuple[float, float] | None,
    usage: Usage | None,
    cleanup_ended: float | None,
    walk: int,
    reported: Reported | None = None,
) -> Verdict:
    if limits is None:
        return Verdict("exempt")
    soft, hard = int(limits[0] * GIB), int(limits[1] * GIB)
    largest = (reported.largest, reported.as_of) if reported else ((), "")
    if usage is None:
        # Only the weekly report to go by: a notice over the soft limit, never a narrower menu.
        if reported is None or reported.bytes <= soft:
            return Verdict("unmeasured")
        day = datetime.datetime.fromisoformat(reported.as_of).replace(tzinfo=datetime.UTC).timestamp()
        return Verdict("soft", reported.bytes, soft, hard, day, walk, *largest, source="report")
    state = "under" if usage.bytes <= soft else "soft" if usage.bytes <= hard else "hard"
    # Out of cleanup-only until a walk that began after the cleanup server stopped has measured the home.
    if state == "hard" and cleanup_ended is not None and cleanup_ended > usage.walk_started:
        state = "cleaned"
    return Verdict(state, usage.bytes, soft, hard, usage.walked_at, walk, *(largest if state != "under" else ((), "")))


def weekly(notices: Path, home: str) -> Reported | None:
    """The home's size and largest entries at the newest weekly report, if it was over the lowest soft limit."""
    try:
        with open(notices / "usage.json") as file:  # values/home_notices.py NOTICE_FILE
            latest = json.load(file)
        found = latest.get("homes", {}).get(home)
        if not found:
            return None
        datetime.date.fromisoformat(latest["as_of"])  # judge() counts from the report's day
        largest = tuple((str(n), int(b)) for n, b in found["largest"])
        return Reported(int(found["bytes"]), largest, str(latest["as_of"]))
    except Exception as problem:  # a report the hub cannot read is no reason to keep anyone out
        log.info("home limits: no weekly report for %s (%s)", home, problem)
        return None


def query(selector: dict[str, str], home: str) -> str:
    """Both gauges of one home, from the exporter's pods only."""
    quoted = {**selector, "directory": home}
    labels = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                      for k, v in quoted.items())  # fmt: skip
    return f'{{__name__=~"{SIZE}|{WALKED}|{WALK_SECONDS}",{labels}}}'


def newest(result: list[dict[str, Any]]) -> Usage | None:
    """The newest walk's measurement from Prometheus's answer (two exporter pods overlap while one replaces
    the other; each pod's series carry its name)."""
    by_pod: dict[str, dict[str, float]] = {}
    for series in result:
        metric = series["metric"]
        by_pod.setdefault(metric.get("pod", ""), {})[metric["__name__"]] = float(series["value"][1])
    walks = [(m[WALKED], m[SIZE]) for m in by_pod.values() if SIZE in m and WALKED in m]
    if not walks:
        return None
    walked_at, size = max(walks)
    took = max((m.get(WALK_SECONDS, 0.0) for m in by_pod.values() if m.get(WALKED) == walked_at), default=0.0)
    return Usage(int(size), walked_at, walked_at - took)


async def measured(url: str, selector: dict[str, str], home: str) -> Usage | None:
    """The home's last measurement, or None (logged) when Prometheus does not answer or has none."""
    from tornado.httpclient import AsyncHTTPClient

    address = f"{url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query(selector, home)})
    try:
        response = await AsyncHTTPClient().fetch(address, request_timeout=ASK_SECONDS, connect_timeout=ASK_SECONDS)
        answer = json.loads(response.body)
        usage = newest(answer["data"]["result"])
    except Exception as problem:  # any failure to measure lets the user in: never trap a user
        log.warning("home limits: no measurement of %s from %s (%s); the full menu is offered", home, url, problem)
        return None
    if usage is None:
        log.warning("home limits: Prometheus has no measurement of %s yet; the full menu is offered", home)
    return usage


class HomeLimits:
    """The rule DandiKubeSpawner applies (its `menu_rules`)."""

    def __init__(self, settings: dict[str, Any], home_template: str) -> None:
        self.settings, self.home_template = settings, home_template
        self.verdicts: dict[str, Verdict] = {}  # by user, from the latest form or start

    def home(self, spawner: Any) -> str:
        return str(spawner._expand_user_properties(self.home_template)).split("/", 1)[1]

    async def prepare(self, spawner: Any) -> None:
        user = spawner.user
        limits = limits_for(self.settings, user.name, {g.name for g in user.groups}, bool(user.admin))
        usage = reported = None
        if limits is not None:
            if self.settings["prometheus_url"]:
                usage = await measured(self.settings["prometheus_url"], self.settings["selector"], self.home(spawner))
            reported = weekly(Path(self.settings["notices"]), self.home(spawner))
        walk = self.settings["walk_every_minutes"]
        self.verdicts[user.name] = judge(limits, usage, spawner.kept.get("cleanup_ended"), walk, reported)

    def verdict(self, spawner: Any) -> Verdict:
        return self.verdicts.get(spawner.user.name, Verdict("unmeasured"))

    def narrow(self, spawner: Any, profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.settings["cleanup_profile"]] if self.verdict(spawner).state == "hard" else profiles

    def refusal(self, spawner: Any, requested: str | None) -> str | None:
        verdict = self.verdict(spawner)
        if verdict.state != "hard" or requested in (None, "", CLEANUP):
            return None
        return (
            f"Your home directory holds {verdict.used_bytes / GIB:.1f} GiB, over its hard limit of "
            f"{verdict.hard_bytes / GIB:.1f} GiB, so only the cleanup server starts. Start it, delete or move "
            f"files until the home is under {verdict.hard_bytes / GIB:.1f} GiB (under {verdict.soft_bytes / GIB:.1f} "
            "GiB for no notice at all), and stop it: your next start offers every profile again."
        )

    def admitted(self, spawner: Any, slug: str | None) -> None:
        """The server learns its home's state; over the soft limit, or for cleanup, it opens on the usage page."""
        verdict = self.verdict(spawner)
        if verdict.state in ("exempt", "unmeasured"):
            return
        spawner.environment = {**spawner.environment, **verdict.environment()}
        if slug != CLEANUP and verdict.state in ("soft", "cleaned"):
            spawner.default_url = self.settings["home_page"]

    def stopped(self, spawner: Any) -> None:
        """A cleanup server stopped: until the exporter measures the home again, the full menu returns."""
        if (spawner.user_options or {}).get("profile") == CLEANUP:
            spawner.kept = {**spawner.kept, "cleanup_ended": time.time()}


def configure(c: Any, settings: dict[str, Any], home_template: str) -> HomeLimits:
    """Add the rule to the hub's spawner and its verdict to the spawn page (`home_limit`)."""
    rule = HomeLimits(settings, home_template)
    spawner = c.JupyterHub.spawner_class
    spawner.menu_rules = [*spawner.menu_rules, rule]
    c.JupyterHub.template_vars = {
        **c.JupyterHub.get("template_vars", {}),
        "home_limit": lambda user: rule.verdict(user.spawner).page() if user is not None else None,
    }
    return rule


# Where the hub finds the settings (the program mounts them; components/home_governance.py).
HUB_SETTINGS = Path("/usr/local/etc/jupyterhub/home-governance/limits.json")

if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    with open(HUB_SETTINGS) as _file:
        configure(c, json.load(_file), os.environ["DANDIHUB_HOME_TEMPLATE"])  # type: ignore[name-defined]  # noqa: F821
