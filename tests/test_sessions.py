"""User servers: their SQLite databases (notebook signatures included) and runtime files off NFS, and
culling that means idle (busy kernels and terminal jobs count), with the configuration loaded into the real
jupyter_server, jupyter_server_terminals, nbformat, IPython and KubeSpawner classes."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

from traitlets.config import Config

from components.singleuser_values import SERVER_CONFIG_DIR, server_config
from offline.engine import Plan
from tests.charts import render
from tests.conftest import ROOT, load_in_cluster_code
from tests.hub_chain import load_hub_config, user_pod

EXTENSION = ROOT / "values" / "singleuser" / "busy_kernels_activity.py"


def load_extension() -> ModuleType:
    return load_in_cluster_code(EXTENSION)


def test_the_settings_reach_every_server(staging: Plan, tmp_path: Path) -> None:
    """Built by the real KubeSpawner from the chart's loaded config: the environment and the four files."""
    config = load_hub_config(render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release")), tmp_path, "dandihub")
    pod = user_pod(config, "satra", {"profile": ["base"]}, None)
    (notebook,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in notebook["env"]}
    assert env["JUPYTER_RUNTIME_DIR"] == "/tmp/jupyter-runtime"
    assert "PYTHONPATH" not in env, "it would replace the image's own"
    mounts = {m["mountPath"] for m in notebook["volumeMounts"]}
    assert {f"{SERVER_CONFIG_DIR}/jupyter_server_config.json", f"{SERVER_CONFIG_DIR}/jupyter_server_config.py",
            f"{SERVER_CONFIG_DIR}/extensions/busy_kernels_activity.py",
            "/etc/ipython/ipython_config.json"} <= mounts  # fmt: skip
    files = json.loads(json.dumps(staging.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]))
    assert files["singleuser"]["extraFiles"]["jupyter-server-config"]["data"] == server_config(staging.config.hub)


# Run in a clean interpreter: the real ServerApp reads the config path, loads its extensions, and reports.
SERVER_PROBE = """
import json, os, sys
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.initialize(argv=[], new_httpserver=False, find_extensions=False)
extension = app.extension_manager.extensions.get("busy_kernels_activity")
print(json.dumps({
    "loaded": bool(extension and extension.enabled),
    "image_setting": app.config.FileContentsManager.get("delete_to_trash"),
    "cull_busy": app.config.MappingKernelManager.get("cull_busy"),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "image_path_importable": "/opt/image-own" in sys.path,
}))
"""


def start_server(config_dirs: list[Path], tmp_path: Path) -> dict[str, object]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "JUPYTER_CONFIG_PATH": os.pathsep.join(str(d) for d in config_dirs),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONPATH": "/opt/image-own",  # as an image might set it
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVER_PROBE], env=env, cwd=home, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def mounted_files(plan: Plan, root: Path) -> Path:
    """The server's extra files written under `root` at their mount paths, as the chart writes them
    (`data` as JSON, `stringData` as is); returns the config directory."""
    extra = plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]["extraFiles"]
    for item in extra.values():
        target = root / item["mountPath"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["stringData"] if "stringData" in item else json.dumps(item["data"]))
    return root / SERVER_CONFIG_DIR.lstrip("/")


def test_the_real_server_loads_the_extension_next_to_the_images_own_config(staging: Plan, tmp_path: Path) -> None:
    ours = mounted_files(staging, tmp_path / "pod")
    image = tmp_path / "image-etc-jupyter"
    image.mkdir()
    (image / "jupyter_server_config.py").write_text("c.FileContentsManager.delete_to_trash = False\n")
    found = start_server([ours, image], tmp_path)
    assert found["loaded"], "busy_kernels_activity is importable and enabled"
    assert found["cull_busy"] is False, "our JSON settings apply"
    assert found["image_setting"] is False, "the image's own config still applies"
    assert found["pythonpath"] == "/opt/image-own" and found["image_path_importable"]


def test_the_server_probe_has_teeth(staging: Plan, tmp_path: Path) -> None:
    """Without the file that extends the path, the real server cannot import the extension."""
    ours = mounted_files(staging, tmp_path / "pod")
    (ours / "jupyter_server_config.py").unlink()
    # The kernel spec manager lives in the same folder: without the file the server could not import it and
    # would not start at all (tests/test_environments.py), so it goes too.
    settings = json.loads((ours / "jupyter_server_config.json").read_text())
    del settings["ServerApp"]["kernel_spec_manager_class"]
    (ours / "jupyter_server_config.json").write_text(json.dumps(settings))
    assert start_server([ours], tmp_path)["loaded"] is False


# The real notary as the server builds it (its contents manager's) and as `jupyter trust` builds it, after a
# notebook is saved (and so signed) through the server.
NOTARY_PROBE = """
import json, sys
import nbformat
from jupyter_server.serverapp import ServerApp
from nbformat.sign import TrustNotebookApp
app = ServerApp()
app.initialize(argv=[], new_httpserver=False, find_extensions=False)
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
app.contents_manager.save({"type": "notebook", "format": "json", "content": notebook}, "signed.ipynb")
trust = TrustNotebookApp()
trust.initialize(argv=[])
print(json.dumps({"server": app.contents_manager.notary.db_file, "trust": trust.notary.db_file}))
"""


def notary_files(config_dirs: list[Path], tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """Where the real notaries keep signatures, and the SQLite files left in the home after a save."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_PATH": os.pathsep.join(str(d) for d in config_dirs),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", NOTARY_PROBE], env=env, cwd=home, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*.db"))
    return json.loads(done.stdout.strip().splitlines()[-1]), left


def test_notebook_signatures_stay_off_the_home_for_the_server_and_jupyter_trust(staging: Plan, tmp_path: Path) -> None:
    found, left = notary_files([mounted_files(staging, tmp_path / "pod")], tmp_path)
    assert found == {"server": "/tmp/jupyter-nbsignatures.db", "trust": "/tmp/jupyter-nbsignatures.db"}
    assert left == []


def test_the_notary_probe_has_teeth(tmp_path: Path) -> None:
    """Without our settings nbformat puts the database in the data dir, in the home."""
    found, left = notary_files([], tmp_path)
    assert found["server"] == str(tmp_path / "home" / ".local" / "share" / "jupyter" / "nbsignatures.db")
    assert left == [".local/share/jupyter/nbsignatures.db"]


def real_config(plan: Plan) -> Config:
    return Config(server_config(plan.config.hub))


def test_no_sqlite_database_stays_on_the_home_file_system(staging: Plan) -> None:
    from IPython.core.history import HistoryManager
    from jupyter_server_fileid.manager import BaseFileIdManager
    from jupyter_server_ydoc.stores import SQLiteYStore
    from nbformat.sign import NotebookNotary

    config = real_config(staging)
    ipython = Config({"HistoryManager": {"hist_file": "/tmp/ipython-history.sqlite"}})
    assert config.BaseFileIdManager.db_path.startswith("/tmp/")
    assert config.SQLiteYStore.db_path.startswith("/tmp/")
    assert "hist_file" in HistoryManager.class_traits(config=True) and ipython.HistoryManager.hist_file.startswith(
        "/tmp/"
    )
    assert config.NotebookNotary.db_file.startswith("/tmp/")
    for cls in (BaseFileIdManager, SQLiteYStore, NotebookNotary):
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
    assert config.ServerApp.jpserver_extensions == {"busy_kernels_activity": True, "home_usage": True}


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


def test_a_command_running_in_a_terminal_is_activity_and_a_prompt_is_not() -> None:
    """Real terminals (jupyter_server_terminals' TerminalManager over terminado's ptys, bash with job control):
    a silent foreground `sleep` keeps its terminal and its server; a terminal at its prompt is culled by the
    real terminal culler once quiet for its timeout."""
    from jupyter_server.serverapp import ServerWebApplication
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
    from jupyter_server_terminals.terminalmanager import TerminalManager

    extension = load_extension()

    async def scenario() -> dict[str, object]:
        terminals = TerminalManager(shell_command=["bash", "--norc", "--noprofile", "-i"], cull_inactive_timeout=600)
        working, waiting = terminals.create()["name"], terminals.create()["name"]
        job = terminals.terminals[working].ptyproc
        job.write("sleep 60\n")  # prints nothing
        for _ in range(100):
            if os.tcgetpgrp(job.fd) != job.pid:
                break
            await asyncio.sleep(0.05)
        started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
        for terminal in terminals.terminals.values():
            terminal.last_activity = started
        kernels = MappingKernelManager()
        kernels.last_kernel_activity = started
        settings = {"started": started, "kernel_manager": kernels, "terminal_manager": terminals,
                    "last_activity_times": {}}  # fmt: skip
        server = SimpleNamespace(kernel_manager=kernels, web_app=SimpleNamespace(settings=settings))
        busy = extension.record_busy(server)
        server_active = ServerWebApplication.last_activity(server.web_app) > started + datetime.timedelta(hours=1)
        for name in (working, waiting):
            await terminals._cull_inactive_terminal(name)
        left = sorted(terminals.terminals)
        await terminals.terminate_all()
        return {"busy": busy, "server_active": server_active, "left": left, "working": working}

    found = asyncio.run(scenario())
    assert found["busy"] is True and found["server_active"] is True
    assert found["left"] == [found["working"]], "the terminal at its prompt is culled, the working one kept"


def test_the_terminal_check_has_teeth() -> None:
    """At a prompt, nothing is busy."""
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
    from jupyter_server_terminals.terminalmanager import TerminalManager

    extension = load_extension()

    async def scenario() -> bool:
        terminals = TerminalManager(shell_command=["bash", "--norc", "--noprofile", "-i"])
        terminals.create()
        await asyncio.sleep(0.3)
        settings = {"terminal_manager": terminals}
        busy = extension.record_busy(SimpleNamespace(kernel_manager=MappingKernelManager(),
                                                     web_app=SimpleNamespace(settings=settings)))  # fmt: skip
        await terminals.terminate_all()
        return bool(busy)

    assert asyncio.run(scenario()) is False
