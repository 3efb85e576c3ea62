"""The pinned charts in the tests: offline/charts.py renders them; a test that needs them is skipped when
DANDIHUB_CHARTS is unset (README, Development)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from offline import charts
from offline.charts import CHARTS_VARIABLE, Manifest, of_kind, pod_specs
from offline.engine import RecordedResource

__all__ = ["Manifest", "addon_manifests", "chart_folder", "of_kind", "pod_specs", "render"]


def chart_folder(chart: str) -> Path:
    """The folder of `chart` as `helm pull --untar` gives it; skips the test when the variable is unset."""
    if not os.environ.get(CHARTS_VARIABLE):
        pytest.skip(f"{CHARTS_VARIABLE} is not set: point it at the folder of the pinned charts (README, Development)")
    return charts.chart_folder(chart)


def render(release: RecordedResource) -> list[Manifest]:
    """Every manifest the release's chart renders from the values the release sends."""
    chart_folder(release.inputs["chart"])
    return charts.render_release(release)


def addon_manifests(addon: RecordedResource, cluster_name: str, region: str) -> list[Manifest]:
    """What an EKS add-on installs, from its chart and the configurationValues the program sends."""
    chart_folder(addon.inputs["addonName"])
    return charts.render_addon(addon, cluster_name, region)
