"""A Jupyter Server extension that counts a running computation as activity.

jupyter_server's last activity (which jupyterhub-singleuser reports to the hub, and the hub's idle culler
judges by) moves when a kernel sends output, a terminal writes or the browser calls the API; a long cell
that prints nothing (a `dandi download`, a model fit) looks idle. This extension records "now" under a
setting whose name ends in `_last_activity` (jupyter_server counts such settings) every minute while any
kernel is busy, so only a server whose kernels are all idle and whose terminals and browsers are quiet is
culled.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

SETTING = "busy_kernels_last_activity"
EVERY_SECONDS = 60


def record_busy(serverapp: Any) -> bool:
    """Note now as activity if any kernel is executing; returns whether one was."""
    manager = serverapp.kernel_manager
    busy = any(getattr(manager.get_kernel(k), "execution_state", "") == "busy" for k in manager.list_kernel_ids())
    if busy:
        serverapp.web_app.settings[SETTING] = datetime.now(timezone.utc)  # noqa: UP017 - images on older Pythons
    return busy


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "busy_kernels_activity"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from tornado.ioloop import PeriodicCallback

    PeriodicCallback(lambda: record_busy(serverapp), EVERY_SECONDS * 1000).start()
