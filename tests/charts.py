"""The pinned charts, found through DANDIHUB_CHARTS (README, Development), rendered by Helm's own engine
exactly as `helm install` would render the values a release sends."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from offline.engine import RecordedResource

CHARTS_VARIABLE = "DANDIHUB_CHARTS"
Manifest = dict[str, Any]


def chart_folder(chart: str) -> Path:
    """The folder of `chart` as `helm pull --untar` gives it; skips the test when the variable is unset."""
    root = os.environ.get(CHARTS_VARIABLE)
    if not root:
        pytest.skip(f"{CHARTS_VARIABLE} is not set: point it at the folder of the pinned charts (README, Development)")
    folder = Path(root) / chart
    assert (folder / "Chart.yaml").exists(), f"{CHARTS_VARIABLE}={root} has no chart {chart}/"
    return folder


def render(release: RecordedResource) -> list[Manifest]:
    """Every manifest the release's chart renders from the values the release sends (the chart's own
    schema is checked first, as `helm install` does; a failure raises with Helm's message)."""
    inputs = release.inputs
    folder = chart_folder(inputs["chart"])
    version = yaml.safe_load((folder / "Chart.yaml").read_text())["version"]
    assert str(version) == inputs["version"], (
        f"{folder} is {inputs['chart']} {version}, the release pins {inputs['version']}"
    )
    values = json.dumps(inputs.get("values", {}), sort_keys=True)
    return [dict(m) for m in _render(str(folder), values, inputs["name"], inputs["namespace"])]


@functools.cache
def _render(folder: str, values: str, name: str, namespace: str) -> tuple[Manifest, ...]:
    chart = helm_python.Chart.load(folder)
    files = chart.render(json.loads(values), name=name, namespace=namespace, is_install=True)
    manifests = []
    for path, text in sorted(files.items()):
        if path.endswith(".txt"):
            continue
        # A duplicated key would be silently collapsed by a lenient parser; Kubernetes refuses it.
        manifests += [m for m in yaml.load_all(text, Loader=_StrictLoader) if m]
    return tuple(manifests)


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        duplicated = {k for k in keys if keys.count(k) > 1}
        if duplicated:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicated}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def of_kind(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def pod_specs(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    """Pod specs of every workload (Deployment, StatefulSet, DaemonSet, Job, Pod), by kind/name."""
    specs = {}
    for m in manifests:
        if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            specs[f"{m['kind']}/{m['metadata']['name']}"] = m["spec"]["template"]["spec"]
        elif m["kind"] == "Pod":
            specs[f"Pod/{m['metadata']['name']}"] = m["spec"]
    return specs
