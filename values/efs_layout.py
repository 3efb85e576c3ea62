"""The shared file system's top-level directories, made before anything mounts them, with the owner and mode
that let each reader and writer do its job. Run as root by the storage component's layout Job
(components/storage.py) on every change of this file or of the group folders:
`efs_layout.py <file system root> <group folders JSON: {"<group>": {"gid": <gid>, "visibleToAll": <bool>}}>`.

Who uses what (uids as the cluster runs them):
- home/          the kubelet (root) makes each user's sub-path; the home-restore init container of the user's
                 own pod (NOTEBOOK_UID, group USERS_GID) moves an archived home back into it; the usage
                 exporter reads it (root, read-only mount: the kubelet cannot make a sub-path there);
- archive/       the report job (root) moves inactive homes in; the restore init container moves them back,
                 and carries out the user's own requests (moves the home in or out, records each in
                 archive/<home>/self-service.jsonl): it needs to search archive/ and to write
                 archive/<home>/, hence the group;
- admin/reports/ the report job only (root); admins read it from a root shell;
- admin/notices/ the report job writes the soft-limit notices there; the hub (uid 1000) mounts only this
                 directory, read-only (a sub-path mount needs no search right on admin/);
- groups/<g>/    group g's folder (hub.groups.<g>.folder): its members' servers mount it read-write with its gid
                 among their groups; every server mounts groups/ read-only at /groups. All servers run as uid
                 1000, so a member's files belong to every user's uid: only the read-only mount stops a
                 non-member from changing them, and only the group (mode 2770) hides a private folder;
- shared/        the old world-writable area, kept as it was and mounted read-only; admins move its content
                 into group folders (docs/operations.md, section 2);
- readonly/      every user reads; admins (root) write.

Nothing here deletes or moves anything, nor changes anything below these directories except the group and
mode of archive/'s own entries, so that archives made before the restore ran as the user can come back, and of
each configured group folder itself. A folder whose group lost its folder in config stays as it was.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

# The notebook's uid and the users' group (z2jh singleuser.uid and fsGid in values/jupyterhub.yaml).
NOTEBOOK_UID, USERS_GID = 1000, 100
ROOT_UID = 0

# path: (owner uid, group, mode). Parents before children.
LAYOUT: dict[str, tuple[int, int, int]] = {
    "home": (ROOT_UID, USERS_GID, 0o775),
    "archive": (ROOT_UID, USERS_GID, 0o770),
    "admin": (ROOT_UID, ROOT_UID, 0o700),
    "admin/reports": (ROOT_UID, ROOT_UID, 0o700),
    "admin/notices": (ROOT_UID, ROOT_UID, 0o755),
    "groups": (ROOT_UID, ROOT_UID, 0o755),
    "shared": (ROOT_UID, USERS_GID, 0o755),
    "readonly": (ROOT_UID, ROOT_UID, 0o555),
}
# Each home's folder under archive/: its snapshots are renamed out of it by the restore.
ARCHIVE_ENTRY = (ROOT_UID, USERS_GID, 0o770)
# A group folder: members write (the group's bits), the setgid bit gives what they make the folder's group.
PRIVATE_FOLDER, VISIBLE_FOLDER = 0o2770, 0o2775


def folder_owner(gid: int, visible_to_all: bool) -> tuple[int, int, int]:
    return (ROOT_UID, gid, VISIBLE_FOLDER if visible_to_all else PRIVATE_FOLDER)


class LayoutError(RuntimeError):
    """A path of the layout exists and is not a plain directory; nothing was changed."""


def _settle(path: Path, owner: tuple[int, int, int]) -> str | None:
    uid, gid, mode = owner
    now = path.lstat()
    if (now.st_uid, now.st_gid, stat.S_IMODE(now.st_mode)) == (uid, gid, mode):
        return None
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)
    return f"{path}: {now.st_uid}:{now.st_gid} {stat.S_IMODE(now.st_mode):o} -> {uid}:{gid} {mode:o}"


def make(root: Path, folders: Mapping[str, tuple[int, bool]] | None = None) -> list[str]:
    """Make and set the layout under `root`, with each group folder (group: (gid, visible to all)); returns what
    changed. Refuses (LayoutError, before any change) when one of its paths is a file or a symbolic link."""
    wanted = dict(LAYOUT)
    wanted.update({f"groups/{name}": folder_owner(gid, visible) for name, (gid, visible) in (folders or {}).items()})
    paths = {name: root / name for name in wanted}
    wrong = [name for name, path in paths.items() if path.is_symlink() or (path.exists() and not path.is_dir())]
    if wrong:
        raise LayoutError(f"not plain directories, left as they are: {', '.join(wrong)}")
    changed = []
    for name, owner in wanted.items():
        path = root / name
        if not path.exists():
            path.mkdir()
            changed.append(f"{path}: made")
        changed += [line for line in [_settle(path, owner)] if line]
    for entry in sorted((root / "archive").iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            changed += [line for line in [_settle(entry, ARCHIVE_ENTRY)] if line]
    return changed


def read_folders(text: str) -> dict[str, tuple[int, bool]]:
    """The group folders file: {"<group>": {"gid": <gid>, "visibleToAll": <bool>}} (hub.groups.<group>.folder)."""
    return {name: (int(f["gid"]), bool(f["visibleToAll"])) for name, f in json.loads(text).items()}


def main(argv: list[str]) -> int:
    try:
        changed = make(Path(argv[0]), read_folders(Path(argv[1]).read_text()) if len(argv) > 1 else {})
    except LayoutError as problem:
        print(problem, file=sys.stderr)
        return 1
    print("\n".join(changed) if changed else "the layout is in place")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
