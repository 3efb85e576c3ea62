"""A real JupyterHub (the pinned package) on a loopback port, with the services and roles the program
registers and the page texts it sets, read from the rendered chart's hub configuration; for the tests that
need the hub's own answers (Grafana's login, Prometheus's scrape, the banner). No proxy runs: the tests
talk to the hub's own port, as Grafana and Prometheus do in the cluster (hub.<namespace>.svc:8081)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from traitlets.config import Config

STARTUP_SECONDS = 90
# SharedPasswordAuthenticator's rules: admins log in with the admin password (32+ characters), others
# with the user password (8+).
ADMIN_PASSWORD = "admin-password-for-the-test-hub-only-0123456789"
USER_PASSWORD = "user-password-0123"

HUB_CONFIG = """
import json
from pathlib import Path

from jupyterhub.proxy import Proxy


class NoProxy(Proxy):
    # The tests talk to the hub's own port; routes are not needed.
    should_start = False

    async def start(self): pass
    async def stop(self): pass
    async def add_route(self, routespec, target, data): pass
    async def delete_route(self, routespec): pass
    async def get_all_routes(self): return {}


settings = json.loads(Path(__file__).with_name("settings.json").read_text())
c = get_config()
c.JupyterHub.proxy_class = NoProxy
c.JupyterHub.hub_bind_url = settings["hub_bind_url"]
c.JupyterHub.bind_url = settings["bind_url"]
c.JupyterHub.services = settings["services"]
c.JupyterHub.load_roles = settings["load_roles"]
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.admin_password = settings["admin_password"]
c.SharedPasswordAuthenticator.user_password = settings["user_password"]
c.Authenticator.admin_users = set(settings["admin_users"])
c.Authenticator.allow_all = True
c.JupyterHub.template_vars = settings["template_vars"]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def program_services(config: Config) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The services the program registers with the hub and their roles, as the hub loads them; a
    service's URL points at an unused loopback port (the hub pings it once), and services the hub would
    start itself (the idle culler) are left out."""
    services = []
    for service in config.JupyterHub.services:
        if "command" in service:
            continue
        service = dict(service)
        if "url" in service:
            service["url"] = f"http://127.0.0.1:{free_port()}"
        services.append(service)
    names = {s["name"] for s in services}
    roles = [r for r in config.JupyterHub.load_roles if set(r.get("services", [])) <= names]
    return services, roles


@dataclass
class RealHub:
    url: str
    services: dict[str, dict[str, Any]]
    log: Path

    def login(self, user: str, admin: bool) -> requests.Session:
        """A browser session logged in through the hub's login form."""
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=10)
        password = ADMIN_PASSWORD if admin else USER_PASSWORD
        form = {"username": user, "password": password, "_xsrf": session.cookies.get("_xsrf", "")}
        response = session.post(f"{self.url}/hub/login", data=form, allow_redirects=False, timeout=10)
        assert response.status_code == 302, (user, response.status_code, response.text[:300])
        return session

    def api(self, session: requests.Session, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An API call with the session's cookie (and its XSRF token, as the hub's pages send it)."""
        headers = {"X-XSRFToken": session.cookies.get("_xsrf") or ""}
        return session.request(method, f"{self.url}/hub/api/{path}", headers=headers, timeout=30, **kwargs)


@contextmanager
def running_hub(config: Config, workdir: Path) -> Iterator[RealHub]:
    """The pinned JupyterHub in a subprocess with the program's services, stopped on exit."""
    services, roles = program_services(config)
    port = free_port()
    settings = {
        "hub_bind_url": f"http://127.0.0.1:{port}",
        "bind_url": f"http://127.0.0.1:{free_port()}",
        "services": services,
        "load_roles": roles,
        "admin_users": sorted(config.Authenticator.admin_users),
        "admin_password": ADMIN_PASSWORD,
        "user_password": USER_PASSWORD,
        # The page texts the program sets (the banner); the home-usage notice is a function, not passed.
        "template_vars": {k: v for k, v in config.JupyterHub.get("template_vars", {}).items() if isinstance(v, str)},
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "settings.json").write_text(json.dumps(settings))
    (workdir / "jupyterhub_config.py").write_text(HUB_CONFIG)
    hub = RealHub(f"http://127.0.0.1:{port}", {s["name"]: s for s in services}, workdir / "hub.log")
    command = [sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"]
    with serving(command, f"{hub.url}/hub/health", hub.log, STARTUP_SECONDS, cwd=workdir):
        yield hub


@contextmanager
def serving(command: list[str], ready_url: str, log: Path, seconds: float, cwd: Path | None = None) -> Iterator[None]:
    """A server process on a loopback port, once `ready_url` answers (within `seconds`); stopped on exit."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + seconds
        while True:
            assert process.poll() is None, f"{command[0]} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no answer in {seconds} s:\n{log.read_text()[-3000:]}"
            try:
                if requests.get(ready_url, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
