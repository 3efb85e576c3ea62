"""Shared fixtures: offline plans of the real stacks, and a way to run a stack with changed config."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from offline.engine import Plan, run_stack  # noqa: E402
from offline.stack_files import read_stack_config  # noqa: E402

STACKS = ("staging", "prod")

# mypy starts at collection and runs beside the other tests. Under xdist each worker collects, so each starts
# one and only the worker that runs test_mypy waits for it: measured faster (99 s against 117 s for the suite)
# than starting it inside test_mypy, where it runs alone at the end of that worker's queue.
MYPY = pytest.StashKey[subprocess.Popen]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(item.name == "test_mypy" for item in items):
        config.stash[MYPY] = subprocess.Popen(
            [sys.executable, "-m", "mypy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


# A small profile on the spot CPU group, for configs that replace the menu.
TINY_PROFILE = {
    "slug": "tiny",
    "displayName": "Tiny",
    "nodeGroup": "user-small",
    "cpu": {"guarantee": 0.5, "limit": 1},
    "memory": {"guarantee": "1G", "limit": "2G"},
    "images": ["standard"],
}


def changed_config(stack: str, set_: dict[str, Any] | None = None, unset: list[str] | None = None) -> dict[str, Any]:
    """The stack file's config with dotted paths set or removed; the first part is the config key
    (`nodeGroups.gpu.maxSize` means key `dandihub:nodeGroups`, then `gpu`, then `maxSize`)."""
    config = copy.deepcopy(read_stack_config(stack))

    def walk(path: str) -> tuple[dict[str, Any], str]:
        head, *rest = path.split(".")
        key = head if ":" in head else f"dandihub:{head}"
        if not rest:
            return config, key
        node = config.setdefault(key, {})
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        return node, rest[-1]

    for path, value in (set_ or {}).items():
        node, key = walk(path)
        node[key] = value
    for path in unset or []:
        node, key = walk(path)
        node.pop(key, None)
    return config


def plan_with(stack: str, secrets: dict[str, str] | None = None, **changes: Any) -> Plan:
    """Run `stack` with `set_`/`unset` changes to its config (see `changed_config`)."""
    return run_stack(stack, config=changed_config(stack, changes.get("set_"), changes.get("unset")), secrets=secrets)


@pytest.fixture(scope="session", params=STACKS)
def plan(request: pytest.FixtureRequest) -> Plan:
    """The offline plan of each real stack file, as committed (run once per session; tests only read it)."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def staging() -> Plan:
    return run_stack("staging")


@pytest.fixture(scope="session")
def prod() -> Plan:
    return run_stack("prod")


def in_component(plan: Plan, component_type: str) -> list:
    """Every resource below the (single) component of this type."""
    return list(plan.descendants_of(plan.one(component_type)))


def stack_config(plan: Plan) -> dict[str, Any]:
    """The config the plan was run with (the committed stack file)."""
    return read_stack_config(plan.stack)


def load_in_cluster_code(path: Path) -> ModuleType:
    """A file that runs inside the cluster (values/), loaded as a module of its own name for its tests; its
    folder is on the import path, as the folder it runs from is in the cluster (it may import a neighbour)."""
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through the module
    spec.loader.exec_module(module)
    return module
