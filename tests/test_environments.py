"""Environments that persist: a conda/mamba environment made where the pod sends new ones lands in the home and
is offered as a kernel by the real jupyter_server and jupyter_client after a restart (a fresh process with
the pod's environment and config files), and the kernel runs in that environment; pip outside any
environment installs into the user's site in the home. Everything runs as the notebook user (uid 1000)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from components.singleuser_values import BASE_PIP_CONF, SERVER_CONFIG_DIR
from offline.engine import Plan
from tests.charts import render
from tests.conftest import ROOT, load_in_cluster_code
from tests.hub_chain import load_hub_config, user_pod
from tests.pod_user import INTERPRETER, PACKAGES, mounted, owned_by_user, pod_env, reachable_folder, run_as_user
from tests.test_sessions import mounted_files

HOME, SCRATCH = "/home/jovyan", "/scratch"
# The kernel package's own kernel.json, as `conda install ipykernel` or `pip install ipykernel` puts it into an
# environment (share/jupyter/kernels/python3): taken from the ipykernel installed here.
IPYKERNEL_SPEC = Path(PACKAGES).parents[2] / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"


@pytest.fixture(scope="module")
def pod(staging: Plan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hub = render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release"))
    return user_pod(load_hub_config(hub, tmp_path_factory.mktemp("hub"), "dandihub"), "satra", {"profile": ["base"]})


@pytest.fixture
def server(staging: Plan, pod: dict[str, Any]) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder laid out as the pod sees it (home, scratch, the mounted config files) and the pod's
    environment pointed at it."""
    with reachable_folder() as root:
        home, scratch = root / "home", root / "scratch"
        owned_by_user(home, scratch)
        config = mounted_files(staging, root / "files")
        env = mounted({**pod_env(pod), "HOME": HOME}, {HOME: home, SCRATCH: scratch})
        # jupyter_core reads /usr/local/etc/jupyter by default; here the mounted copy stands in for it.
        yield root, {**env, "JUPYTER_CONFIG_PATH": str(config), "JUPYTER_PLATFORM_DIRS": "1"}


def make_environment(where: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """An environment with the kernel package's files, made by the notebook user: a virtual environment
    (no conda here) that sees the test packages, with ipykernel's own kernel.json where the package puts it."""
    spec = base64.b64encode(IPYKERNEL_SPEC.read_bytes()).decode()
    script = f"""
import base64, pathlib, subprocess, sys
subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", {str(where)!r}], check=True)
kernel = pathlib.Path({str(where)!r}, "share", "jupyter", "kernels", "python3")
kernel.mkdir(parents=True)
(kernel / "kernel.json").write_bytes(base64.b64decode({spec!r}))
"""
    return run_as_user(["-c", script], env, cwd=Path(env["HOME"]))


# A restarted server: the real ServerApp loads the config files, then its kernel spec manager lists the
# kernels, and the environment's kernel is started and asked where it runs.
RESTARTED = """
import json, sys
from jupyter_client.manager import KernelManager
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.initialize(argv=[], new_httpserver=False, find_extensions=False)
specs = {name: {"argv": s["spec"]["argv"], "resource_dir": s["resource_dir"]}
         for name, s in app.kernel_spec_manager.get_all_specs().items()}
prefix = None
if sys.argv[1] in specs:
    manager = KernelManager(kernel_name=sys.argv[1], kernel_spec_manager=app.kernel_spec_manager)
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    out = []
    client.execute_interactive("import sys; print(sys.prefix)", timeout=60,
                               output_hook=lambda m: out.append(m["content"].get("text", "")))
    prefix = "".join(out).strip()
    client.stop_channels()
    manager.shutdown_kernel(now=True)
print(json.dumps({"specs": specs, "prefix": prefix}))
"""


def restart(root: Path, env: dict[str, str], kernel: str) -> dict[str, Any]:
    done = run_as_user(["-c", RESTARTED, kernel], env, cwd=root / "home")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_new_environment_lands_in_the_home_and_is_a_kernel_after_a_restart(
    server: tuple[Path, dict[str, str]],
) -> None:
    root, env = server
    envs_dirs = env["CONDA_ENVS_DIRS"]
    assert Path(envs_dirs).is_relative_to(root / "home"), "new environments go to the home"
    made = make_environment(Path(envs_dirs, "analysis"), env)
    assert made.returncode == 0, made.stderr
    found = restart(root, env, "analysis-python3")
    spec = found["specs"].get("analysis-python3")
    assert spec is not None, f"not among {sorted(found['specs'])}"
    assert spec["argv"][0] == f"{envs_dirs}/analysis/bin/python"
    assert Path(spec["resource_dir"]).is_relative_to(root / "home")
    assert found["prefix"] == f"{envs_dirs}/analysis", "the kernel runs in the environment"


def test_without_the_kernel_manager_the_environment_is_no_kernel(server: tuple[Path, dict[str, str]]) -> None:
    """The teeth: with the same environment variables and the same environment on disk, jupyter_client's own
    manager (the server's default) does not offer it; ours does (both in this process, no server)."""
    root, env = server
    assert make_environment(Path(env["CONDA_ENVS_DIRS"], "analysis"), env).returncode == 0
    ours = load_in_cluster_code(ROOT / "values" / "singleuser" / "environment_kernels.py")
    with mock.patch.dict(os.environ, {**env, "HOME": str(root / "home")}):
        assert "analysis-python3" not in KernelSpecManager().find_kernel_specs()
        assert "analysis-python3" in ours.EnvironmentKernelSpecManager().find_kernel_specs()


def test_environments_conda_lists_anywhere_are_found_and_each_runs_its_own_interpreter(tmp_path: Path) -> None:
    """`conda create -p /scratch/envs/r-work r-irkernel`: conda records the path in ~/.conda/environments.txt;
    IRkernel's kernel.json names `R` without a path, and the environment's own R is what runs."""
    home, env = tmp_path / "home", tmp_path / "scratch" / "envs" / "r-work"
    (env / "share" / "jupyter" / "kernels" / "ir").mkdir(parents=True)
    (env / "share" / "jupyter" / "kernels" / "ir" / "kernel.json").write_text(
        json.dumps({"argv": ["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"],
                    "display_name": "R", "language": "R"})
    )  # fmt: skip
    (env / "bin").mkdir()
    (env / "bin" / "R").touch()
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text(f"{env}\n{env}\n{tmp_path / 'gone'}\n")
    ours = load_in_cluster_code(ROOT / "values" / "singleuser" / "environment_kernels.py")
    with mock.patch.dict(os.environ, {"HOME": str(home), "CONDA_ENVS_DIRS": str(home / ".conda" / "envs")}):
        manager = ours.EnvironmentKernelSpecManager()
        assert [n for n in manager.find_kernel_specs() if n.startswith("r-work")] == ["r-work-ir"]
        spec = manager.get_kernel_spec("r-work-ir")
    assert spec.argv[0] == str(env / "bin" / "R") and spec.display_name == "R (r-work)"
    assert spec.env["PATH"].startswith(f"{env / 'bin'}{os.pathsep}")


def test_the_kernel_manager_is_mounted_where_the_server_imports_extensions(staging: Plan) -> None:
    files = staging.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]["extraFiles"]
    mounts = {f["mountPath"] for f in files.values()}
    assert f"{SERVER_CONFIG_DIR}/extensions/environment_kernels.py" in mounts
    assert BASE_PIP_CONF in mounts


def tiny_wheel(folder: Path) -> Path:
    """A one-module wheel, so pip installs without an index."""
    wheel = folder / "persisted-1.0-py3-none-any.whl"
    files = {
        "persisted.py": "VALUE = 1\n",
        "persisted-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: persisted\nVersion: 1.0\n",
        "persisted-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + "persisted-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in {**files, "persisted-1.0.dist-info/RECORD": record}.items():
            archive.writestr(name, text)
    wheel.chmod(0o644)
    return wheel


def pip_install(env_python: Path, wheel: Path, env: dict[str, str], cwd: Path) -> str:
    """Where `pip install` with that interpreter put the package (the module's folder)."""
    done = run_as_user(["-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)], env, cwd=cwd,
                       python=str(env_python))  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = run_as_user(["-c", "import persisted, os; print(os.path.dirname(persisted.__file__))"], env, cwd=cwd,
                        python=str(env_python))  # fmt: skip
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


@pytest.mark.parametrize("with_pip_conf", [True, False])
def test_pip_outside_an_environment_installs_into_the_users_site_in_the_home(
    staging: Plan, server: tuple[Path, dict[str, str]], with_pip_conf: bool
) -> None:
    """The image's environment (here a virtual environment standing in for /opt/conda, its site packages
    and the user's site visible as in conda's base) with the pip.conf the pod mounts at its prefix: pip
    installs into ~/.local in the home. Without the file (the teeth), into the image's environment."""
    root, env = server
    base = root / "opt-conda"
    subprocess.run([INTERPRETER, "-m", "venv", "--without-pip", "--system-site-packages", str(base)], check=True)
    owned_by_user(base, base / "lib" / "python3.11" / "site-packages")
    if with_pip_conf:
        files = staging.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]["extraFiles"]
        (conf,) = [f for f in files.values() if f["mountPath"] == BASE_PIP_CONF]
        (base / Path(BASE_PIP_CONF).name).write_text(conf["stringData"])
    where = Path(pip_install(base / "bin" / "python", tiny_wheel(root), env, root / "home"))
    assert where.is_relative_to(root / "home" / ".local") is with_pip_conf
    assert where.is_relative_to(base) is not with_pip_conf


def test_pip_in_an_environment_the_user_made_installs_into_that_environment(
    server: tuple[Path, dict[str, str]],
) -> None:
    root, env = server
    made = Path(env["CONDA_ENVS_DIRS"], "analysis")
    assert make_environment(made, env).returncode == 0
    assert Path(pip_install(made / "bin" / "python", tiny_wheel(root), env, root / "home")).is_relative_to(made)


def test_the_real_spawn_page_says_where_installs_go() -> None:
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
    from jupyterhub._data import DATA_FILES_PATH

    hub_templates = os.path.join(DATA_FILES_PATH, "templates")
    loader = ChoiceLoader([
        PrefixLoader({"templates": FileSystemLoader([hub_templates])}, "/"),
        FileSystemLoader([str(ROOT / "values" / "templates"), hub_templates]),
    ])  # fmt: skip
    page = Environment(loader=loader).get_template("spawn.html").render(
        static_url=lambda *a, **k: "", base_url="/hub/", url="/hub/spawn", user=None,
        spawner_options_form="<select name='profile'></select>",
    )  # fmt: skip
    assert "where-installs-go" in page and "<select name='profile'>" in page
    assert "~/.conda/envs" in page and "~/.local" in page and "/opt/conda" in page
    kept = page.split("where-installs-go", 1)[1].split("Kept:", 1)[0]
    assert "/groups/" in kept, "group folders are kept"
    assert "<code>/shared</code> and <code>/readonly</code> are kept too, but read-only" in kept, "not writable"
