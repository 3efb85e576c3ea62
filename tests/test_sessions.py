"""User servers: their SQLite databases and runtime files off NFS, and culling that means idle, with the
configuration loaded into the real jupyter_server, IPython and KubeSpawner classes."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

from traitlets.config import Config

from components.jupyterhub import server_config
from offline.engine import Plan
from tests.charts import render
from tests.conftest import ROOT, load_in_cluster_code
from tests.hub_chain import load_hub_config, user_pod

EXTENSION = ROOT / "values" / "singleuser" / "busy_kernels_activity.py"


def load_extension() -> ModuleType:
    return load_in_cluster_code(EXTENSION)


def test_the_settings_reach_every_server(staging: Plan, tmp_path: Path) -> None:
    """Built by the real KubeSpawner from the chart's loaded config: the environment and the three files."""
    config = load_hub_config(render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release")), tmp_path, "dandihub")
    pod = user_pod(config, "satra", {"profile": ["base"]}, None)
    (notebook,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in notebook["env"]}
    assert env["JUPYTER_RUNTIME_DIR"] == "/tmp/jupyter-runtime"
    assert env["PYTHONPATH"] == "/etc/jupyter/extensions"
    mounts = {m["mountPath"] for m in notebook["volumeMounts"]}
    assert {"/etc/jupyter/jupyter_server_config.json", "/etc/ipython/ipython_config.json",
            "/etc/jupyter/extensions/busy_kernels_activity.py"} <= mounts  # fmt: skip
    files = json.loads(json.dumps(staging.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]))
    assert files["singleuser"]["extraFiles"]["jupyter-server-config"]["data"] == server_config(staging.config.hub)


def real_config(plan: Plan) -> Config:
    return Config(server_config(plan.config.hub))


def test_no_sqlite_database_stays_on_the_home_file_system(staging: Plan) -> None:
    from IPython.core.history import HistoryManager
    from jupyter_server_fileid.manager import BaseFileIdManager
    from jupyter_server_ydoc.stores import SQLiteYStore

    config = real_config(staging)
    ipython = Config({"HistoryManager": {"hist_file": "/tmp/ipython-history.sqlite"}})
    assert config.BaseFileIdManager.db_path.startswith("/tmp/")
    assert config.SQLiteYStore.db_path.startswith("/tmp/")
    assert "hist_file" in HistoryManager.class_traits(config=True) and ipython.HistoryManager.hist_file.startswith(
        "/tmp/"
    )
    for cls in (BaseFileIdManager, SQLiteYStore):
        assert set(config[cls.__name__]) <= set(cls.class_traits(config=True)), cls.__name__


def test_kernels_are_culled_when_idle_and_never_while_busy(staging: Plan) -> None:
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
    from jupyter_server_terminals.terminalmanager import TerminalManager

    config = real_config(staging)
    kernels = MappingKernelManager(config=config)
    timeout = staging.config.hub.culling.timeout
    assert (kernels.cull_idle_timeout, kernels.cull_busy, kernels.cull_connected) == (timeout, False, True)
    assert TerminalManager(config=config).cull_inactive_timeout == timeout
    assert set(config.ServerApp) <= set(ServerApp.class_traits(config=True))
    assert config.ServerApp.jpserver_extensions == {"busy_kernels_activity": True}


def test_a_busy_kernel_is_activity_and_an_idle_one_is_not() -> None:
    """The extension against the real kernel manager and jupyter_server's own last-activity sum."""
    from jupyter_server.serverapp import ServerWebApplication
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    extension = load_extension()
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    manager = MappingKernelManager()
    manager._kernels["k1"] = SimpleNamespace(execution_state="idle")
    manager.last_kernel_activity = started
    web_app = SimpleNamespace(settings={"started": started, "kernel_manager": manager, "last_activity_times": {}})
    server = SimpleNamespace(kernel_manager=manager, web_app=web_app)
    assert extension.record_busy(server) is False
    assert ServerWebApplication.last_activity(web_app) == started, "an idle kernel is not activity"
    manager._kernels["k2"] = SimpleNamespace(execution_state="busy")
    assert extension.record_busy(server) is True
    assert ServerWebApplication.last_activity(web_app) > started + datetime.timedelta(hours=1), "busy is activity"
    assert extension._jupyter_server_extension_points() == [{"module": "busy_kernels_activity"}]
