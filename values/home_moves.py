"""Moving homes to the archive and back, the only code that moves a user's files; nothing here deletes one.

It runs in two places:
- as the first init container of every user's pod (`home_moves.py restore <root> <home>`, as the notebook's
  uid and the users' group, which values/efs_layout.py gives the rights it needs): a returning user's newest
  archive made by retention is moved back before anything mounts the home, or, when the hub passes one
  (HOME_ACTION, HOME_REQUEST), the user's own request from the spawn page is carried out (move the home to
  the archive, or bring the latest archive back), once;
- imported by the weekly report job (values/home_governance.py), which archives inactive homes when
  retention is enabled and lists every home's archives.
Every move is one rename on one file system, checked before and after: the same directory arrives.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

HOMES, ARCHIVE = "home", "archive"


class InconsistentError(RuntimeError):
    """The file system is not as the run expected; the run stops without changing anything more."""


# Snapshots: archive/<home>/<name>/. Retention names them by the day it ran (`2026-11-27`); a user's own
# archive, from the spawn page, by the second of the request and `-self` (`2026-12-01T171205Z-self`).
SELF = "-self"
REQUEST_FORMAT = "%Y-%m-%dT%H%M%SZ"
# The self-service requests carried out for a home, one JSON line per step, beside its snapshots.
REQUESTS = "self-service.jsonl"
# How the hub hands a request to the pod's restore init container (values/home_actions.py, HomeActions).
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


def _rename(source: Path, target: Path) -> None:
    """One rename on one file system, checked: what arrives is the directory that left (the same inode on the
    same device), so nothing was copied and nothing left behind. No walk of the tree: a home of millions of
    files moves as fast as an empty one, within the user's server's start timeout."""
    before = source.lstat()
    os.rename(source, target)
    after = target.lstat()
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or os.path.lexists(source):
        raise InconsistentError(f"{source} -> {target}: not the same directory after the move")


def archive(root: Path, home: str, snapshot: str) -> dict[str, Any]:
    """Move `home/<home>` to `archive/<home>/<snapshot>` (_rename). Raises InconsistentError (changing
    nothing) when the home is not a plain directory or the target exists, and after the move if what
    arrived is not what left."""
    assert snapshot_time(snapshot), snapshot
    source = root / HOMES / home
    target = root / ARCHIVE / home / snapshot
    if source.is_symlink() or not source.is_dir():
        raise InconsistentError(f"{source} is not a directory")
    if target.exists():
        raise InconsistentError(f"{target} exists already")
    _archive_folder(root, home)
    _rename(source, target)
    return {"home": home, "to": str(target.relative_to(root))}


def bring_back(root: Path, home: str, snapshot: Path) -> Path | None:
    """Move `snapshot` back to `home/<home>` if the home is missing or an empty directory (as the kubelet
    makes it); otherwise leave everything as it is. Returns where it came from."""
    target = root / HOMES / home
    if _holds_files(target):
        return None
    if target.exists():
        target.rmdir()  # empty, as checked above: no file is removed
    target.parent.mkdir(parents=True, exist_ok=True)
    _rename(snapshot, target)
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
    `archive/<home>/self-service.jsonl`; a run that finds its plan recorded resumes it.

    A user keeps one archive of their own at a time: with one there already, `archive` moves nothing (no
    limit measures the archive, so archiving again and again would get around the home's limits). Bringing
    one back into a home with files swaps them, so the user still holds one; only an admin removes an
    archive (runbook, "Removing old archives")."""
    moment = datetime.datetime.strptime(request, REQUEST_FORMAT)  # refuses anything but the hub's stamps
    if action not in ("archive", "restore"):
        raise InconsistentError(f"unknown home action {action!r}")
    steps = [r for r in request_steps(root, home) if r["request"] == request]
    finished = [r for r in steps if r["step"] == "done"]
    if finished:
        return {**finished[0], "again": True}
    own = root / ARCHIVE / home / f"{request}{SELF}"
    stamps = {"requested": moment.replace(tzinfo=datetime.UTC).isoformat(),
              "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}  # fmt: skip
    if steps:  # an earlier run of this request stopped half-way: its plan holds
        wanted = steps[0]["bring_back"]
    else:
        earlier = snapshots(root, home)
        held = [s.name for s in earlier if made_by(s.name) == "self"]
        if action == "archive" and held:
            note = f"not archived: you have an archive of your own already ({held[-1]}); an admin can remove it"
            kept = {"request": request, "step": "done", "action": action, "archived": None, "brought_back": None,
                    "note": note, **stamps}  # fmt: skip
            _record(root, home, kept)
            return kept
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
    done = {"request": request, "step": "done", "action": action, **outcome, "note": note, **stamps}
    _record(root, home, done)
    return done


def main(argv: list[str]) -> int:
    """`home_moves.py restore <file system root> <home directory name>`: a request stopped half-way is
    finished first; then the user's own request if the hub passed one, else the automatic restore."""
    if len(argv) != 3 or argv[0] != "restore":
        print("usage: home_moves.py restore <file system root> <home directory name>", file=sys.stderr)
        return 2
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
