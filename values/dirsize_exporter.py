"""prometheus-dirsize-exporter (3.2, the newest release) run so that no user's home can stall it.

Its walker classifies each entry with `os.path.isdir`, which follows symbolic links: a home holding
`ln -s . a; ln -s . b` makes the walk branch twice per level, effectively forever, and every other home
waits; one such link ends in ELOOP, which stops the whole exporter. A directory removed between the
walker's stat and its listing raises FileNotFoundError, which stops it too; so does a listing refused
(a stale NFS handle, a permission) anywhere but the top. No fixed release exists (upstream's newest
commit still follows links), so this runs the released package with the smallest change: every
filesystem call still goes through its IO budget, but a symbolic link is never a directory to descend
into (it is still counted, as a link, the way the package counts links), and a directory that cannot be
listed any more counts as empty for this walk (the next walk sees it as it is then).

    python dirsize_exporter.py <parent_dir> <iops_budget> <wait_minutes> [--port N]

(the package's own arguments; see `dirsize-exporter --help`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

from prometheus_dirsize_exporter import exporter

# A listing that fails with one of these means the directory changed under the walk, not a broken exporter.
GONE = {errno.ENOENT, errno.ENOTDIR, errno.ESTALE, errno.EACCES, errno.ELOOP}


def is_real_directory(path: str) -> bool:
    """A directory, and not a symbolic link to one."""
    return os.path.isdir(path) and not os.path.islink(path)


def listing(path: str) -> list[str]:
    """The directory's entries, or none if it vanished or cannot be read any more."""
    try:
        return os.listdir(path)
    except OSError as error:
        if error.errno in GONE:
            return []
        raise


class LinkSafeWalker(exporter.BudgetedDirInfoWalker):  # type: ignore[misc]
    """The package's budgeted walker, with its directory test and its listing made safe (each still one
    budgeted IO)."""

    def do_iops_action(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if func is os.path.isdir:
            func = is_real_directory
        elif func is os.listdir:
            func = listing
        return super().do_iops_action(func, *args, **kwargs)


def main() -> None:
    exporter.BudgetedDirInfoWalker = LinkSafeWalker
    exporter.main()


if __name__ == "__main__":
    main()
