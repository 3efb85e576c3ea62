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
  user's newest archive is moved back before anything mounts the home, or, when the hub passes one, the
  user's own request from the spawn page is carried out (move the home to the archive, or bring the latest
  archive back), once;
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
# Each home's snapshots as of the report, for the spawn page's "bring back" choice.
ARCHIVES_NOTICE = "archives.json"


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


# Snapshots: archive/<home>/<name>/. Retention names them by the day it ran (`2026-11-27`); a user's own
# archive, from the spawn page, by the second of the request and `-self` (`2026-12-01T171205Z-self`).
SELF = "-self"
REQUEST_FORMAT = "%Y-%m-%dT%H%M%SZ"
# The self-service requests carried out for a home, one JSON line per step, beside its snapshots.
REQUESTS = "self-service.jsonl"
# How the hub hands a request to the pod's restore init container (values/jupyterhub_access.py, HomeActions).
ACTION_ENV, REQUEST_ENV = "HOME_ACTION", "HOME_REQUEST"


def snapshot_time(name: str) -> datetime.datetime | None:
    """When a snapshot was made, from its name (a retention day counts from its start: retention never
    archives a home whose user started a server that day, so no own archive of that day is older), or None
    for a name neither retention nor a user gives (left alone: never restored automatically)."""
    for pattern, suffix in (("%Y-%m-%d", ""), (REQUEST_FORMAT, SELF)):
        if suffix and not name.endswith(suffix):
            continue
        try:
            return datetime.datetime.strptime(name.removesuffix(suffix), pattern).replace(tzinfo=datetime.UTC)
        except ValueError:
            continue
    return None


def made_by(name: str) -> str:
    return "self" if name.endswith(SELF) else "retention"


def snapshots(root: Path, home: str) -> list[Path]:
    """The snapshots of `home`, oldest first."""
    folder = root / ARCHIVE / home
    found = [p for p in folder.iterdir() if p.is_dir() and snapshot_time(p.name)] if folder.is_dir() else []
    return sorted(found, key=lambda p: (snapshot_time(p.name), p.name))


def _archive_folder(root: Path, home: str) -> Path:
    """`archive/<home>/`, made like archive/ itself (values/efs_layout.py) if missing: the user's own pod must
    rename snapshots out of it and record its requests there."""
    folder = root / ARCHIVE / home
    if not folder.is_dir():
        folder.mkdir(parents=True)
        area = (root / ARCHIVE).stat()
        os.chown(folder, -1, area.st_gid)
        os.chmod(folder, area.st_mode & 0o7777)
    return folder


def _holds_files(path: Path) -> bool:
    return path.is_symlink() or (path.exists() and (not path.is_dir() or any(path.iterdir())))


def archive(root: Path, home: str, snapshot: str) -> dict[str, Any]:
    """Move `home/<home>` to `archive/<home>/<snapshot>`: one rename on one file system, checked before and
    after. Raises InconsistentError (changing nothing) when the home is not a plain directory or the target
    exists, and after the move if what arrived differs from what left."""
    assert snapshot_time(snapshot), snapshot
    source = root / HOMES / home
    target = root / ARCHIVE / home / snapshot
    if source.is_symlink() or not source.is_dir():
        raise InconsistentError(f"{source} is not a directory")
    if target.exists():
        raise InconsistentError(f"{target} exists already")
    before = measure(source)
    _archive_folder(root, home)
    os.rename(source, target)
    after = measure(target)
    if (after.bytes, after.files) != (before.bytes, before.files):
        raise InconsistentError(f"{home}: {before} before the move, {after} after it")
    return {"home": home, "to": str(target.relative_to(root)), "bytes": before.bytes, "files": before.files}


def bring_back(root: Path, home: str, snapshot: Path) -> Path | None:
    """Move `snapshot` back to `home/<home>` if the home is missing or an empty directory (as the kubelet
    makes it); otherwise leave everything as it is. Returns where it came from."""
    target = root / HOMES / home
    if _holds_files(target):
        return None
    before = measure(snapshot)
    if target.exists():
        target.rmdir()  # empty, as checked above: no file is removed
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(snapshot, target)
    after = measure(target)
    if (after.bytes, after.files) != (before.bytes, before.files):
        raise InconsistentError(f"{home}: {before} in the archive, {after} after the restore")
    return snapshot


def restore(root: Path, home: str) -> Path | None:
    """At every start: a returning user's newest archive back, if retention made it and the home is missing
    or empty. A user's own archive stays where they put it (their empty home is the fresh start they asked
    for); the spawn page brings it back."""
    found = snapshots(root, home)
    if not found or made_by(found[-1].name) != "retention":
        return None
    return bring_back(root, home, found[-1])


def request_steps(root: Path, home: str) -> list[dict[str, Any]]:
    """Every step recorded for the home's requests, oldest first: `planned` before a request moves anything
    (with the snapshot it will bring back), `done` after (what it archived and brought back)."""
    path = root / ARCHIVE / home / REQUESTS
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def unfinished(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plans of requests that stopped half-way (a pod deleted between two moves)."""
    finished = {r["request"] for r in steps if r["step"] == "done"}
    return [r for r in steps if r["step"] == "planned" and r["request"] not in finished]


def _record(root: Path, home: str, step: dict[str, Any]) -> None:
    with open(_archive_folder(root, home) / REQUESTS, "a") as log:
        log.write(json.dumps(step) + "\n")
        log.flush()
        os.fsync(log.fileno())


def self_service(root: Path, home: str, action: str, request: str) -> dict[str, Any]:
    """A user's own request from the spawn page, run once however often the pod's init containers run:
    `archive` moves the home to `archive/<home>/<request>-self` (the pod then starts with an empty home);
    `restore` brings the newest other snapshot back, archiving the home's files first if it has any (a swap,
    never an overwrite). The plan is recorded before anything moves, and the outcome after, in
    `archive/<home>/self-service.jsonl`; a run that finds its plan recorded resumes it."""
    moment = datetime.datetime.strptime(request, REQUEST_FORMAT)  # refuses anything but the hub's stamps
    if action not in ("archive", "restore"):
        raise InconsistentError(f"unknown home action {action!r}")
    steps = [r for r in request_steps(root, home) if r["request"] == request]
    finished = [r for r in steps if r["step"] == "done"]
    if finished:
        return {**finished[0], "again": True}
    own = root / ARCHIVE / home / f"{request}{SELF}"
    if steps:  # an earlier run of this request stopped half-way: its plan holds
        wanted = steps[0]["bring_back"]
    else:
        earlier = snapshots(root, home)
        wanted = earlier[-1].name if action == "restore" and earlier else None
        _record(root, home, {"request": request, "step": "planned", "action": action, "bring_back": wanted})
    home_dir, outcome = root / HOMES / home, {"archived": None, "brought_back": None}
    still_archived = wanted is not None and (root / ARCHIVE / home / wanted).is_dir()
    if own.is_dir():  # moved by an earlier run of this request
        outcome["archived"] = str(own.relative_to(root))
    elif (action == "archive" or still_archived) and _holds_files(home_dir):
        outcome["archived"] = archive(root, home, own.name)["to"]
    if still_archived and bring_back(root, home, root / ARCHIVE / home / str(wanted)) is None:
        raise InconsistentError(f"{home_dir} holds files: {wanted} was not brought back")
    if wanted:  # brought back now, or by the earlier run (nothing else moves a user's snapshots)
        outcome["brought_back"] = f"{ARCHIVE}/{home}/{wanted}"
    note = (
        "no archive to bring back; the home is as it was"
        if action == "restore" and not wanted
        else "the home was empty: nothing to archive"
        if action == "archive" and not outcome["archived"]
        else ""
    )
    done = {"request": request, "step": "done", "action": action, **outcome, "note": note,
            "requested": moment.replace(tzinfo=datetime.UTC).isoformat(),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}  # fmt: skip
    _record(root, home, done)
    return done


def archive_summary(root: Path) -> dict[str, dict[str, Any]]:
    """Each home with snapshots or self-service requests: its snapshots (name, who made it, bytes) and its
    requests (the outcome of each, or its plan if it never finished)."""
    area = root / ARCHIVE
    found = {}
    for folder in sorted(p for p in area.iterdir() if p.is_dir()) if area.is_dir() else []:
        held = snapshots(root, folder.name)
        steps = request_steps(root, folder.name)
        requests = [r for r in steps if r["step"] == "done"] + unfinished(steps)
        found[folder.name] = {
            "snapshots": [{"name": s.name, "by": made_by(s.name), "bytes": measure(s).bytes} for s in held],
            "bytes": sum(measure(s).bytes for s in held),
            "requests": requests,
        }
    return found


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
                done.append(archive(root, action["home"], now.date().isoformat()))
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
        "archives": archive_summary(root),
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
    _notice_archives(notices, stamp, result["archives"])
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
    lines += archive_lines(result["archives"])
    (out / f"usage-{stamp}.md").write_text("\n".join(lines) + "\n")
    return path


def archive_lines(archives: dict[str, dict[str, Any]]) -> list[str]:
    """The report's archive tables: each home's snapshots, and the users' own requests (newest first)."""
    lines = ["", "## Archives", "", "| home | snapshots (retention / own) | newest | GiB |", "| --- " * 4 + "|"]
    for home, held in archives.items():
        if held["snapshots"]:
            own = sum(1 for s in held["snapshots"] if s["by"] == "self")
            newest = held["snapshots"][-1]
            lines.append(f"| {home} | {len(held['snapshots'])} ({len(held['snapshots']) - own} / {own}) | "
                         f"{newest['name']} ({newest['by']}) | {held['bytes'] / GIB:.2f} |")  # fmt: skip
    lines += ["", "## Self-service", "", "| requested | home | action | archived | brought back | note |",
              "| --- " * 6 + "|"]  # fmt: skip
    requests = [(r, home) for home, held in archives.items() for r in held["requests"]]
    for r, home in sorted(requests, key=lambda item: item[0]["request"], reverse=True):
        if r["step"] == "done":
            cells = [r["archived"] or "", r["brought_back"] or "", r["note"]]
        else:
            cells = ["", "", f"unfinished (planned to bring back {r['bring_back']}): see runbook, section 12"]
        lines.append(f"| {r['request']} | {home} | {r['action']} | " + " | ".join(cells) + " |")
    return lines


def _notice_archives(notices: Path, stamp: str, archives: dict[str, dict[str, Any]]) -> None:
    """For the hub: each home's number of snapshots and the newest (name and who made it), nothing else."""
    summary = {
        home: {"count": len(held["snapshots"]), "newest": held["snapshots"][-1]["name"],
               "by": held["snapshots"][-1]["by"]}
        for home, held in archives.items() if held["snapshots"]
    }  # fmt: skip
    fresh = notices / f".{ARCHIVES_NOTICE}.new"
    fresh.write_text(json.dumps({"as_of": stamp, "archives": summary}))
    fresh.chmod(0o644)
    os.replace(fresh, notices / ARCHIVES_NOTICE)


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


def archives_notice(notices: Path, home: str) -> dict[str, Any] | None:
    """What the newest report knew of a home's snapshots (the spawn page's "bring back" choice), else None."""
    path = notices / ARCHIVES_NOTICE
    if not path.is_file():
        return None
    latest = json.loads(path.read_text())
    known = latest["archives"].get(home)
    return {**known, "as_of": latest["as_of"]} if known else None


def configure_hub(c: Any, notices: Path, home_template: str, policy: Policy) -> None:
    """In the hub: tell users over the soft limit, and give the spawn form's home choices what the report
    knew of their archives (the moves run in the user's own pod, not here)."""

    def home_of(spawner: Any) -> str:
        return spawner._expand_user_properties(home_template).split("/", 1)[1]

    # Added to the template variables hub.config set (the banner), not replacing them.
    c.JupyterHub.template_vars = {
        **c.JupyterHub.get("template_vars", {}),
        "home_usage": lambda user: usage_notice(notices, home_of(user.spawner), policy) if user is not None else None,
    }
    c.DandiKubeSpawner.home_archives_of = lambda spawner: archives_notice(notices, home_of(spawner))


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
    `home_governance.py restore <file system root> <home directory name>`, which carries out the user's own
    request instead when the hub passed one (HOME_ACTION, HOME_REQUEST)."""
    if argv[0] == "restore":
        root, home = Path(argv[1]), argv[2]
        for plan_ in unfinished(request_steps(root, home)):  # finished first, whatever this start asks
            print(json.dumps(self_service(root, home, plan_["action"], plan_["request"])))
        action, request = os.environ.get(ACTION_ENV), os.environ.get(REQUEST_ENV)
        if action and request:
            print(json.dumps(self_service(root, home, action, request)))
            return 0
        restored = restore(root, home)
        print(f"restored {home} from {restored}" if restored else f"nothing to restore for {home}")
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
