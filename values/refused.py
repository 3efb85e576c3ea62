"""A start the hub refuses, with a reason the user reads; shared by the parts of the hub's spawner
(values/jupyterhub_access.py, values/home_actions.py). The program mounts it beside the hub's config
(hub.extraFiles, /usr/local/etc/jupyterhub/), a folder z2jh's jupyterhub_config.py puts on the import path."""

from __future__ import annotations

from tornado import web


class Refused(web.HTTPError):
    """A spawn refused for a reason the user should read: JupyterHub shows `jupyterhub_message` on the
    spawn form (a refusal within its first second) or on the progress page."""

    def __init__(self, message: str) -> None:
        super().__init__(403, message.replace("%", "%%"))
        self.jupyterhub_message = message
