"""Config is the source of truth for who is admin: a login taken out of hub.auth.adminUsers loses admin in
the hub (the real JupyterHub's start-up role assignment) and in Grafana (its sessions end)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from traitlets.config import Config

from offline.engine import Plan
from tests.charts import of_kind, render
from tests.conftest import plan_with
from tests.hub_chain import load_hub_config

FORMER = "former-admin"


async def _hub_start(hub_config: Any, db: Path) -> dict[str, bool]:
    """The part of JupyterHub's start that decides admin rights, with the rendered hub's admin settings."""
    from jupyterhub import orm
    from jupyterhub.app import JupyterHub

    config = Config()
    config.JupyterHub.db_url = f"sqlite:///{db}"
    config.Authenticator.admin_users = set(hub_config.Authenticator.admin_users)
    config.JupyterHub.load_roles = [r for r in hub_config.JupyterHub.load_roles if r["name"] == "admin"]
    app = JupyterHub(config=config)
    app.init_db()
    await app.init_role_creation()
    await app.init_users()
    await app.init_role_assignment()
    admins = {user.name: bool(user.admin) for user in app.db.query(orm.User)}
    app.db.close()
    return admins


def _hub_config(plan: Plan, tmp_path: Path) -> Any:
    return load_hub_config(render(plan.one("kubernetes:helm.sh/v3:Release", "hub-release")), tmp_path, "dandihub")


def test_a_login_removed_from_admin_users_is_no_longer_admin_after_the_next_start(
    staging: Plan, tmp_path: Path
) -> None:
    admins = list(staging.config.hub.auth.admin_users)
    before = _hub_config(plan_with("staging", set_={"hub.auth.adminUsers": [*admins, FORMER]}), tmp_path / "before")
    after = _hub_config(staging, tmp_path / "after")
    db = tmp_path / "jupyterhub.sqlite"
    assert asyncio.run(_hub_start(before, db))[FORMER] is True
    restarted = asyncio.run(_hub_start(after, db))
    assert restarted[FORMER] is False
    assert {name for name, admin in restarted.items() if admin} == set(admins)


def _grafana_pod_annotations(plan: Plan) -> dict[str, str]:
    (deployment,) = of_kind(render(plan.one("kubernetes:helm.sh/v3:Release", "monitoring-grafana")), "Deployment")
    return deployment["spec"]["template"]["metadata"].get("annotations", {})


def test_grafana_restarts_when_the_admins_change_and_keeps_no_sessions(staging: Plan) -> None:
    """Grafana keeps sessions only inside its pod (persistence off); a new pod template rolls it."""
    fewer = plan_with("staging", set_={"hub.auth.adminUsers": ["satra"]})
    assert _grafana_pod_annotations(staging) != _grafana_pod_annotations(fewer)
    (deployment,) = of_kind(render(staging.one("kubernetes:helm.sh/v3:Release", "monitoring-grafana")), "Deployment")
    volumes = deployment["spec"]["template"]["spec"].get("volumes", [])
    assert not [v for v in volumes if "persistentVolumeClaim" in v], "sessions must not outlive the pod"
