"""The pinned charts, found through DANDIHUB_CHARTS (README, Development), rendered by Helm's own engine (PyPI
helm-python-sdk embeds it): a release's chart from the values the release sends, and an EKS add-on's chart
from its configurationValues plus what EKS itself sets, so the plan and the tests see the pods each starts."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import yaml

from offline.engine import RecordedResource

CHARTS_VARIABLE = "DANDIHUB_CHARTS"
Manifest = dict[str, Any]


@dataclass(frozen=True)
class AddonChart:
    """The chart an EKS add-on installs: its version (matching the add-on version pinned in
    stackconfig/kubernetes_versions.yaml), the Helm repository it comes from, and the namespace EKS uses."""

    version: str
    repo: str
    namespace: str


ADDON_CHARTS = {
    "amazon-cloudwatch-observability": AddonChart(
        "6.4.0", "https://aws-observability.github.io/helm-charts", "amazon-cloudwatch"
    ),
    "aws-ebs-csi-driver": AddonChart("2.64.0", "https://kubernetes-sigs.github.io/aws-ebs-csi-driver", "kube-system"),
    "aws-efs-csi-driver": AddonChart("4.4.1", "https://kubernetes-sigs.github.io/aws-efs-csi-driver", "kube-system"),
}


class ChartVersionError(ValueError):
    """The chart in DANDIHUB_CHARTS is not the version the program deploys."""


def charts_root() -> Path | None:
    root = os.environ.get(CHARTS_VARIABLE)
    return Path(root) if root else None


def chart_folder(chart: str) -> Path:
    root = charts_root()
    if root is None:
        raise FileNotFoundError(f"{CHARTS_VARIABLE} is not set: point it at the folder of the pinned charts")
    folder = root / chart
    if not (folder / "Chart.yaml").exists():
        raise FileNotFoundError(f"{CHARTS_VARIABLE}={root} has no chart {chart}/")
    return folder


def chart_versions(folder: Path) -> tuple[str, str]:
    """(version, appVersion) of the chart in `folder`."""
    meta = yaml.safe_load((folder / "Chart.yaml").read_text())
    return str(meta["version"]), str(meta.get("appVersion", ""))


def render_release(release: RecordedResource) -> list[Manifest]:
    """Every manifest a recorded Helm release's chart renders from the values the release sends (the chart's
    own schema is checked first, as `helm install` does; a failure raises with Helm's message)."""
    inputs = release.inputs
    folder = chart_folder(inputs["chart"])
    version, _ = chart_versions(folder)
    if version != inputs["version"]:
        raise ChartVersionError(f"{folder} is {inputs['chart']} {version}, the release pins {inputs['version']}")
    values = json.dumps(inputs.get("values", {}), sort_keys=True)
    return [dict(m) for m in _render(str(folder), values, inputs["name"], inputs["namespace"])]


def has_chart(addon: RecordedResource) -> bool:
    return addon.inputs["addonName"] in ADDON_CHARTS


def render_addon(addon: RecordedResource, cluster_name: str, region: str) -> list[Manifest]:
    """What a recorded EKS add-on installs: its chart of the same version (the add-on version is the chart's
    version or its appVersion, e.g. aws-ebs-csi-driver v1.64.0-eksbuild.1 is chart 2.64.0, driver 1.64.0)
    rendered from the configurationValues the program sends."""
    name = addon.inputs["addonName"]
    folder = chart_folder(name)
    pinned = addon.inputs["addonVersion"].removeprefix("v").split("-", 1)[0]
    version, app_version = chart_versions(folder)
    if version != ADDON_CHARTS[name].version or pinned not in (version, app_version):
        raise ChartVersionError(
            f"{folder} is {name} {version} (app {app_version}); the add-on pins {pinned}, "
            f"offline/charts.py names chart {ADDON_CHARTS[name].version}"
        )
    values = {"clusterName": cluster_name, "region": region} if name == "amazon-cloudwatch-observability" else {}
    values |= json.loads(addon.inputs.get("configurationValues") or "{}")
    return [
        dict(m) for m in _render(str(folder), json.dumps(values, sort_keys=True), name, ADDON_CHARTS[name].namespace)
    ]


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
