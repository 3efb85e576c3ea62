"""The pinned charts, found through DANDIHUB_CHARTS (see README, Development), and rendered by Helm's engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHARTS_VARIABLE = "DANDIHUB_CHARTS"


def chart_folder(chart: str) -> Path:
    """The folder of `chart` as `helm pull --untar` gives it; skips the test when the variable is unset."""
    root = os.environ.get(CHARTS_VARIABLE)
    if not root:
        pytest.skip(f"{CHARTS_VARIABLE} is not set: point it at the folder of the pinned charts (README, Development)")
    folder = Path(root) / chart
    assert (folder / "Chart.yaml").exists(), f"{CHARTS_VARIABLE}={root} has no chart {chart}/"
    return folder
