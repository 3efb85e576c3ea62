"""A Jupyter Server extension that counts a running computation as activity: a busy kernel, or a command
running in the foreground of a terminal.

jupyter_server's last activity (which jupyterhub-singleuser reports to the hub, and the hub's idle culler
judges by) moves when a kernel sends output, a terminal writes or the browser calls the API; a long cell
or a terminal command that prints nothing (a `dandi download`, a model fit) looks idle, and
jupyter_server_terminals' own culler closes a terminal that wrote nothing for its timeout, killing the
command. Every minute, while any kernel is busy or any terminal's shell has handed the terminal to a job
(the terminal's foreground process group is no longer the shell's: the job-control test a shell itself
uses), this extension records "now" under a setting whose name ends in `_last_activity` (jupyter_server
counts such settings) and as that terminal's last activity. So only a server whose kernels are idle, whose
terminals sit at a prompt and whose browsers are quiet is culled. A job sent to the background (`&`,
`nohup`) is not counted: the shell is back at its prompt.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

SETTING = "busy_kernels_last_activity"
EVERY_SECONDS = 60


def busy_terminals(serverapp: Any) -> list[Any]:
    """The terminals (terminado's PtyWithClients) running a foreground job."""
    manager = serverapp.web_app.settings.get("terminal_manager")
    busy = []
    for terminal in list(getattr(manager, "terminals", {}).values()):
        shell = terminal.ptyproc
        try:
            if os.tcgetpgrp(shell.fd) != shell.pid:
                busy.append(terminal)
        except OSError:  # the terminal closed meanwhile
            continue
    return busy


def record_busy(serverapp: Any) -> bool:
    """Note now as activity if any kernel is executing or any terminal runs a job; returns whether one was."""
    manager = serverapp.kernel_manager
    kernels = any(getattr(manager.get_kernel(k), "execution_state", "") == "busy" for k in manager.list_kernel_ids())
    terminals = busy_terminals(serverapp)
    now = datetime.now(timezone.utc)  # noqa: UP017 - images on older Pythons
    for terminal in terminals:
        terminal.last_activity = now  # what jupyter_server_terminals' culler reads
    if kernels or terminals:
        serverapp.web_app.settings[SETTING] = now
    return bool(kernels or terminals)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "busy_kernels_activity"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from tornado.ioloop import PeriodicCallback

    PeriodicCallback(lambda: record_busy(serverapp), EVERY_SECONDS * 1000).start()
