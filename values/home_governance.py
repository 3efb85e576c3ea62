"""Home-directory governance, the weekly report job: usage per user, soft-limit notices, and DANDI's
retention policy (warn after a while without a login, then archive), without ever deleting a user's file.

The job (a standard Python image with this file and its two neighbours mounted) measures every home, asks
the hub's REST API for each user's last activity (a service token that may list users and read their
activity and servers, nothing else), writes a report for admins, and, only when retention is enabled, moves
inactive homes to `archive/<home>/<date>/` on the same file system (values/home_moves.py: a rename, nothing
copied or deleted) within its safety limits. It leaves the notices the hub reads (values/home_notices.py).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Beside this file wherever it runs (the job's ConfigMap; values/ in the tests).
from home_moves import (
    ARCHIVE,
    HOMES,
    InconsistentError,
    archive,
    made_by,
    request_steps,
    snapshots,
    unfinished,
)
from home_notices import ARCHIVES_NOTICE, NOTICE_FILE
from hub_users import User, home_namer, hub_users

GIB = 1024**3
REPORTS, NOTICES = "admin/reports", "admin/notices"


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int
    latest_mtime: float


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
                held = usage[action["home"]]
                moved = archive(root, action["home"], now.date().isoformat())
                done.append({**moved, "bytes": held.bytes, "files": held.files})
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
        "folders": folder_use(root),
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


def folder_use(root: Path) -> dict[str, int]:
    """The bytes of what users keep outside their homes, which no limit covers: each group's folder
    (`groups/<group>`) and the old `shared/` (read-only since group folders)."""
    found = {f"groups/{p.name}": p for p in sorted((root / "groups").iterdir())} if (root / "groups").is_dir() else {}
    found["shared"] = root / "shared"
    return {name: measure(path).bytes for name, path in found.items() if path.is_dir() and not path.is_symlink()}


def _previous(root: Path) -> dict[str, int]:
    reports = sorted((root / REPORTS).glob("usage-*.json")) if (root / REPORTS).is_dir() else []
    return {r["home"]: r["bytes"] for r in json.loads(reports[-1].read_text())["homes"]} if reports else {}


def write(root: Path, result: dict[str, Any]) -> Path:
    """The report as JSON (for the next run's growth) and Markdown (for people), both for admins only, and
    the notices the hub reads (values/home_limits.py): the homes over the lowest soft limit of any user, with
    their size and largest entries (names and sizes), nothing else."""
    out = root / REPORTS
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)  # admins only: no user server mounts admin/, and this keeps it from anyone else too
    stamp = result["generated"][:10]
    path = out / f"usage-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    notices = root / NOTICES
    notices.mkdir(parents=True, exist_ok=True)
    # report() lists the largest entries of exactly those homes.
    over = {r["home"]: {"bytes": r["bytes"], "largest": r["largest"]} for r in result["homes"] if r["largest"]}
    fresh = notices / f".{NOTICE_FILE}.new"
    fresh.write_text(json.dumps({"as_of": stamp, "homes": over}))
    fresh.chmod(0o644)  # the hub reads it as its own uid
    os.replace(fresh, notices / NOTICE_FILE)  # the hub never reads half a file
    _notice_archives(notices, stamp, result["archives"])
    lines = [
        f"# Home directories, {stamp}",
        "",
        f"Total: {result['total_bytes'] / GIB:.1f} GiB",
        "",
        "| home | GiB | growth GiB | files | $/month Standard / IA / Archive | over the stack's soft limit |",
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
    lines += ["", "## Folders outside the homes (no limit covers them)", "", "| folder | GiB |", "| --- | --- |"]
    lines += [f"| {name} | {held / GIB:.2f} |" for name, held in result["folders"].items()]
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
    """For the hub: each home's number of snapshots (and how many the user made), and the newest (name and who
    made it), nothing else."""
    summary = {
        home: {"count": len(held["snapshots"]), "own": sum(s["by"] == "self" for s in held["snapshots"]),
               "newest": held["snapshots"][-1]["name"], "by": held["snapshots"][-1]["by"]}
        for home, held in archives.items() if held["snapshots"]
    }  # fmt: skip
    fresh = notices / f".{ARCHIVES_NOTICE}.new"
    fresh.write_text(json.dumps({"as_of": stamp, "archives": summary}))
    fresh.chmod(0o644)
    os.replace(fresh, notices / ARCHIVES_NOTICE)


def load_policy(path: Path) -> Policy:
    with open(path) as file:
        raw = json.load(file)
    return Policy(**{**raw, "exempt": frozenset(raw.get("exempt", []))})


def main(argv: list[str]) -> int:
    """The report job: `home_governance.py <file system root> <policy.json>`."""
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
