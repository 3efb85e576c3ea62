"""Old and new home-directory names for a list of GitHub logins, from KubeSpawner's own slug code.

    venv/bin/python -m offline.home_names jane-doe 1abc          # or one login per line on stdin
    venv/bin/python -m offline.home_names --commands < logins.txt

The old hub (KubeSpawner < 7) named homes `home/<escaped name>`; this program's default
(`hub.homeNames: safe`) is KubeSpawner 7's safe name. Each line says whether a directory must move.
With --commands it prints `mv -n -T` lines instead (never overwriting, never moving a home into an existing
one: -T treats the target as the name to take, not a folder to move into; reversed by swapping the paths)
for the operator to review and run from the root of the file system (docs/operations.md, Migrating).
"""

from __future__ import annotations

import shlex
import sys

from offline.spawner import expand
from stackconfig.hub import HOME_SUB_PATHS


def names(login: str) -> tuple[str, str]:
    """(old, new) sub-paths of the login's home. JupyterHub lowercases logins before naming anything."""
    user = login.strip().lower()
    return expand(user, HOME_SUB_PATHS["escaped"]), expand(user, HOME_SUB_PATHS["safe"])


def main(argv: list[str]) -> int:
    commands = "--commands" in argv
    logins = [a for a in argv if a != "--commands"] or [line for line in sys.stdin.read().split() if line]
    for login in logins:
        old, new = names(login)
        if commands:
            if old != new:
                print(f"mv -n -T -- {shlex.quote(old)} {shlex.quote(new)}")
        else:
            print(f"{login}\t{old}\t{new}\t{'same' if old == new else 'move'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
