"""Home-directory governance: usage per user, soft-quota notices, and DANDI's retention policy (warn after a
while without a login, then archive), without ever deleting a user's file.

It runs in two places, from this one file:
- as the weekly report job (a standard Python image with the file mounted): it measures every home, asks
  the hub's REST API for each user's last activity (a service token that may list users and read their
  activity and servers, nothing else), writes a report for admins, and, only when retention is enabled,
  moves inactive homes to `archive/<home>/<date>/` on the same file system (a rename: nothing is copied
  or deleted) within its safety limits;
- as the first init container of every user's pod (`home_governance.py restore <root> <home>`, as the
  notebook's uid and the users' group, which values/efs_layout.py gives the rights it needs): a returning
  user's newest archive is moved back before anything mounts the home;
- inside the hub, as z2jh `hub.extraConfig` (where `c` is the hub's config): the spawn page shows a user
  over the soft limit their usage, the limit and how to clean up, from the notices the report leaves in
  `admin/notices/` (the one directory the hub mounts, read-only).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GIB = 1024**3
HOMES, ARCHIVE, REPORTS, NOTICES = "home", "archive", "admin/reports", "admin/notices"
NOTICE_FILE = "usage.json"


class InconsistentError(RuntimeError):
    """The file system is not as the run expected; the run stops without changing anything more."""


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int
    latest_mtime: float


@dataclass(frozen=True)
class Policy:
    """What config says (hub.homes): the soft limit, and the retention rules, applied only if enabled."""

    soft_limit_gib: float = 10
    # Homes above this (the lowest soft limit of any user) get their largest entries in the hub's notices.
    largest_above_gib: float | None = None
    retention_enabled: bool = False
    warn_after_days: int = 30
    archive_after_days: int = 45
    min_size_gib: float = 0
    exempt: frozenset[str] = frozenset()
    max_archives_per_run: int = 10
    prices_gb_month: dict[str, float] = field(default_factory=lambda: {"standard": 0.30, "ia": 0.016, "archive": 0.008})
    # Caps per group and profile (hub.groups), shown beside each group's use.
    group_caps: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    name: str
    home: str  # the directory under home/, as the hub names it
    admin: bool
    running: bool
    last_activity: datetime.datetime | None
    groups: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()  # of the servers running or starting (the hub's spawner records each)


def measure(path: Path) -> Usage:
    """Bytes, files and the newest change under `path`, without following links out of it."""
    total = files = 0
    latest = 0.0
    for directory, _, names in os.walk(path):
        for name in names:
            stat = os.lstat(os.path.join(directory, name))
            total += stat.st_size
            files += 1
            latest = max(latest, stat.st_mtime)
    return Usage(total, files, latest)


def largest(path: Path, count: int = 5) -> list[tuple[str, int]]:
    """The `count` largest top-level entries of a home, with their bytes (a link counts as itself)."""
    sizes = []
    for entry in path.iterdir():
        real_directory = entry.is_dir() and not entry.is_symlink()
        sizes.append((entry.name, measure(entry).bytes if real_directory else entry.lstat().st_size))
    return sorted(sizes, key=lambda item: -item[1])[:count]


def _days(since: datetime.datetime | None, now: datetime.datetime) -> int | None:
    return None if since is None else (now - since).days


def plan(users: list[User], usage: dict[str, Usage], policy: Policy, now: datetime.datetime) -> list[dict[str, Any]]:
    """Who is inactive, and what retention would do to each (never to admins, the exempt, running servers)."""
    actions = []
    for user in users:
        days = _days(user.last_activity, now)
        if days is None or days < policy.warn_after_days or user.home not in usage:
            continue
        held = usage[user.home]
        reason = (
            "admin"
            if user.admin
            else "exempt"
            if user.name in policy.exempt
            else "server running"
            if user.running
            else "below the minimum size"
            if held.bytes < policy.min_size_gib * GIB
            else ""
        )
        kind = "archive" if days >= policy.archive_after_days and not reason else "warn"
        actions.append(
            {
                "user": user.name,
                "home": user.home,
                "inactive_days": days,
                "bytes": held.bytes,
                "action": kind,
                "kept_because": reason,
            }
        )
    return sorted(actions, key=lambda a: -a["inactive_days"])


def archive(root: Path, home: str, today: datetime.date) -> dict[str, Any]:
    """Move `home/<home>` to `archive/<home>/<today>`: one rename on one file system, checked before and
    after. Raises InconsistentError (changing nothing) when the home is not a plain directory or the target
    exists, and after the move if what arrived differs from what left."""
    source = root / HOMES / home
    target = root / ARCHIVE / home / today.isoformat()
    if source.is_symlink() or not source.is_dir():
        raise InconsistentError(f"{source} is not a directory")
    if target.exists():
        raise InconsistentError(f"{target} exists already")
    before = measure(source)
    if not target.parent.is_dir():
        # Like archive/ itself (values/efs_layout.py): the user's own restore must rename the snapshot out.
        target.parent.mkdir(parents=True)
        area = (root / ARCHIVE).stat()
        os.chown(target.parent, -1, area.st_gid)
        os.chmod(target.parent, area.st_mode & 0o7777)
    os.rename(source, target)
    after = measure(target)
    if (after.bytes, after.files) != (before.bytes, before.files):
        raise InconsistentError(f"{home}: {before} before the move, {after} after it")
    return {"home": home, "to": str(target.relative_to(root)), "bytes": before.bytes, "files": before.files}


def restore(root: Path, home: str) -> Path | None:
    """Move the newest archive of `home` back to `home/<home>` if the home is missing or an empty directory
    (as the kubelet makes it); otherwise leave everything as it is. Returns where it came from."""
    snapshots = (
        sorted(p for p in (root / ARCHIVE / home).glob("*") if p.is_dir()) if (root / ARCHIVE / home).is_dir() else []
    )
    target = root / HOMES / home
    if not snapshots or (target.exists() and (target.is_symlink() or any(target.iterdir()))):
        return None
    latest = snapshots[-1]
    before = measure(latest)
    if target.exists():
        target.rmdir()  # empty, as checked above: no file is removed
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(latest, target)
    after = measure(target)
    if (after.bytes, after.files) != (before.bytes, before.files):
        raise InconsistentError(f"{home}: {before} in the archive, {after} after the restore")
    return latest


def report(root: Path, users: list[User], policy: Policy, now: datetime.datetime) -> dict[str, Any]:
    """Measure, plan, apply retention if enabled (within its limits), and describe it all."""
    homes = root / HOMES
    # A new file system has an empty home/ (or none, before its layout was made): no homes, no error.
    entries = sorted(homes.iterdir()) if homes.is_dir() else []
    usage = {p.name: measure(p) for p in entries if p.is_dir() and not p.is_symlink()}
    previous = _previous(root)
    prices = policy.prices_gb_month
    rows = []
    floor = policy.soft_limit_gib if policy.largest_above_gib is None else policy.largest_above_gib
    for home, held in usage.items():
        gb = held.bytes / 1e9
        rows.append(
            {
                "largest": largest(homes / home) if held.bytes > floor * GIB else [],
                "home": home,
                "bytes": held.bytes,
                "files": held.files,
                "growth_bytes": held.bytes - previous.get(home, held.bytes),
                "over_soft_limit": held.bytes > policy.soft_limit_gib * GIB,
                "monthly_usd": {cls: round(gb * price, 4) for cls, price in prices.items()},
            }
        )
    actions = plan(users, usage, policy, now)
    done: list[dict[str, Any]] = []
    error = None
    if policy.retention_enabled:
        for action in [a for a in actions if a["action"] == "archive"][: policy.max_archives_per_run]:
            try:
                done.append(archive(root, action["home"], now.date()))
            except InconsistentError as problem:
                error = str(problem)
                break
    return {
        "generated": now.isoformat(),
        "total_bytes": sum(u.bytes for u in usage.values()),
        "groups": group_use(users, usage, policy),
        "homes": rows,
        "over_soft_limit": [r["home"] for r in rows if r["over_soft_limit"]],
        "inactive": actions,
        "retention": {"enabled": policy.retention_enabled, "archived": done, "stopped": error},
        "policy": {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(policy).items()},
    }


def group_use(users: list[User], usage: dict[str, Usage], policy: Policy) -> dict[str, dict[str, Any]]:
    """By group: members, the bytes their homes hold, and servers running now by profile, with the caps."""
    found: dict[str, dict[str, Any]] = {
        group: {"members": 0, "bytes": 0, "servers": {slug: {"users": [], "cap": cap} for slug, cap in caps.items()}}
        for group, caps in policy.group_caps.items()
    }
    for user in users:
        for group in user.groups:
            row = found.setdefault(group, {"members": 0, "bytes": 0, "servers": {}})
            row["members"] += 1
            row["bytes"] += usage[user.home].bytes if user.home in usage else 0
            for slug in user.profiles:
                row["servers"].setdefault(slug, {"users": [], "cap": None})["users"].append(user.name)
    return dict(sorted(found.items()))


def _previous(root: Path) -> dict[str, int]:
    reports = sorted((root / REPORTS).glob("usage-*.json")) if (root / REPORTS).is_dir() else []
    return {r["home"]: r["bytes"] for r in json.loads(reports[-1].read_text())["homes"]} if reports else {}


def write(root: Path, result: dict[str, Any]) -> Path:
    """The report as JSON (for the next run's growth) and Markdown (for people), both for admins only, and
        the notices the hub shows: the homes over the soft limit and their size, and the largest entries of the
    homes over the lowest soft limit of any user (names and sizes), nothing else."""
    out = root / REPORTS
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)  # admins only: no user server mounts admin/, and this keeps it from anyone else too
    stamp = result["generated"][:10]
    path = out / f"usage-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    notices = root / NOTICES
    notices.mkdir(parents=True, exist_ok=True)
    over = {r["home"]: r["bytes"] for r in result["homes"] if r["over_soft_limit"]}
    fresh = notices / f".{NOTICE_FILE}.new"
    biggest = {r["home"]: r["largest"] for r in result["homes"] if r["largest"]}
    fresh.write_text(json.dumps({"as_of": stamp, "over_soft_limit": over, "largest": biggest}))
    fresh.chmod(0o644)  # the hub reads it as its own uid
    os.replace(fresh, notices / NOTICE_FILE)  # the hub never reads half a file
    lines = [
        f"# Home directories, {stamp}",
        "",
        f"Total: {result['total_bytes'] / GIB:.1f} GiB",
        "",
        "| home | GiB | growth GiB | files | $/month Standard / IA / Archive | over limit |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(result["homes"], key=lambda r: -r["bytes"]):
        usd = " / ".join(f"{r['monthly_usd'][cls]:.2f}" for cls in ("standard", "ia", "archive"))
        over = "yes" if r["over_soft_limit"] else ""
        lines.append(
            f"| {r['home']} | {r['bytes'] / GIB:.2f} | {r['growth_bytes'] / GIB:+.2f} | {r['files']} | {usd} | {over} |"
        )
    lines += ["", "## By group", "", "| group | members | GiB | servers now (of the cap) |", "| --- " * 4 + "|"]
    for group, row in result["groups"].items():
        servers = ", ".join(
            f"{slug}: {len(use['users'])}" + (f" of {use['cap']}" if use["cap"] is not None else "")
            for slug, use in sorted(row["servers"].items())
        )
        lines.append(f"| {group} | {row['members']} | {row['bytes'] / GIB:.2f} | {servers} |")
    lines += ["", "## Inactive", "", "| user | days | GiB | would | kept because |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {a['user']} | {a['inactive_days']} | {a['bytes'] / GIB:.2f} | {a['action']} | {a['kept_because']} |"
        for a in result["inactive"]
    ]
    retention = result["retention"]
    lines += [
        "",
        f"Retention {'enabled' if retention['enabled'] else 'off (dry run)'}: "
        f"{len(retention['archived'])} archived"
        + (f"; stopped: {retention['stopped']}" if retention["stopped"] else ""),
    ]
    (out / f"usage-{stamp}.md").write_text("\n".join(lines) + "\n")
    return path


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


def load_policy(path: Path) -> Policy:
    with open(path) as file:
        raw = json.load(file)
    return Policy(**{**raw, "exempt": frozenset(raw.get("exempt", []))})


def usage_notice(notices: Path, home: str, policy: Policy) -> dict[str, Any] | None:
    """What the spawn page tells a user over the soft limit (from the newest report's notices), else None."""
    path = notices / NOTICE_FILE
    if not path.is_file():
        return None
    latest = json.loads(path.read_text())
    used = latest["over_soft_limit"].get(home)
    if used is None or used <= policy.soft_limit_gib * GIB:
        return None
    return {"used_gib": round(used / GIB, 1), "limit_gib": policy.soft_limit_gib, "as_of": latest["as_of"]}


def configure_hub(c: Any, notices: Path, home_template: str, policy: Policy) -> None:
    """In the hub: tell users over the soft limit (the restore runs in the user's own pod, not here)."""

    def home_of(spawner: Any) -> str:
        return spawner._expand_user_properties(home_template).split("/", 1)[1]

    # Added to the template variables hub.config set (the banner), not replacing them.
    c.JupyterHub.template_vars = {
        **c.JupyterHub.get("template_vars", {}),
        "home_usage": lambda user: usage_notice(notices, home_of(user.spawner), policy) if user is not None else None,
    }


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


def main(argv: list[str]) -> int:
    """The report job: `home_governance.py <file system root> <policy.json>`; the restore in the user's pod:
    `home_governance.py restore <file system root> <home directory name>`."""
    if argv[0] == "restore":
        restored = restore(Path(argv[1]), argv[2])
        print(f"restored {argv[2]} from {restored}" if restored else f"nothing to restore for {argv[2]}")
        return 0
    root, policy = Path(argv[0]), load_policy(Path(argv[1]))
    home_of = home_namer(os.environ["HOME_NAMES"])
    users = hub_users(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"], home_of)
    result = report(root, users, policy, datetime.datetime.now(datetime.UTC))
    written = write(root, result)
    print(written.with_suffix(".md").read_text())  # the job's log holds the report too: `kubectl logs`
    print(f"wrote {written}; archived {len(result['retention']['archived'])}")
    if result["retention"]["stopped"]:
        print(f"stopped: {result['retention']['stopped']}", file=sys.stderr)
        return 1
    return 0


# Where the hub finds the notices and the policy (the program mounts both; components/home_governance.py).
HUB_NOTICES, HUB_POLICY = Path("/srv/home-notices"), Path("/usr/local/etc/jupyterhub/home-governance/policy.json")

if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    configure_hub(c, HUB_NOTICES, os.environ["DANDIHUB_HOME_TEMPLATE"], load_policy(HUB_POLICY))  # type: ignore[name-defined]  # noqa: F821
elif __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
