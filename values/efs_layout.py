"""The shared file system's top-level directories, made before anything mounts them, with the owner and mode
that let each reader and writer do its job. Run as root by the storage component's layout Job
(components/storage.py) on every change of this file: `efs_layout.py <file system root>`.

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
- shared/        every user reads and writes (as the nfs-fixer init container also sets);
- readonly/      every user reads; admins (root) write.

Nothing here deletes or moves anything, nor changes anything below these directories except the group and
mode of archive/'s own entries, so that archives made before the restore ran as the user can come back.
"""

from __future__ import annotations

import os
import stat
import sys
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
    "shared": (NOTEBOOK_UID, USERS_GID, 0o775),
    "readonly": (ROOT_UID, ROOT_UID, 0o555),
}
# Each home's folder under archive/: its snapshots are renamed out of it by the restore.
ARCHIVE_ENTRY = (ROOT_UID, USERS_GID, 0o770)


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


def make(root: Path) -> list[str]:
    """Make and set the layout under `root`; returns what changed. Refuses (LayoutError, before any change)
    when one of its paths is a file or a symbolic link."""
    paths = {name: root / name for name in LAYOUT}
    wrong = [name for name, path in paths.items() if path.is_symlink() or (path.exists() and not path.is_dir())]
    if wrong:
        raise LayoutError(f"not plain directories, left as they are: {', '.join(wrong)}")
    changed = []
    for name, owner in LAYOUT.items():
        path = root / name
        if not path.exists():
            path.mkdir()
            changed.append(f"{path}: made")
        changed += [line for line in [_settle(path, owner)] if line]
    for entry in sorted((root / "archive").iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            changed += [line for line in [_settle(entry, ARCHIVE_ENTRY)] if line]
    return changed


def main(argv: list[str]) -> int:
    try:
        changed = make(Path(argv[0]))
    except LayoutError as problem:
        print(problem, file=sys.stderr)
        return 1
    print("\n".join(changed) if changed else "the layout is in place")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
