"""The EKS Kubernetes versions this program supports, from a dated table, and where each stands on a day."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

TABLE = Path(__file__).with_name("kubernetes_versions.yaml")
# Warn this long before a version leaves standard support: time to plan and test an upgrade.
WARN_DAYS = 60


@dataclass(frozen=True)
class KubernetesVersion:
    version: str
    released: datetime.date
    end_of_standard_support: datetime.date
    end_of_extended_support: datetime.date
    autoscaler: str
    # EKS add-on name -> the add-on version a cluster of this minor runs.
    addons: dict[str, str]

    def in_extended_support(self, day: datetime.date) -> bool:
        return self.end_of_standard_support <= day < self.end_of_extended_support


@functools.cache
def versions() -> dict[str, KubernetesVersion]:
    table = yaml.safe_load(TABLE.read_text())["versions"]
    return {
        version: KubernetesVersion(
            version,
            row["released"],
            row["endOfStandardSupport"],
            row["endOfExtendedSupport"],
            row["autoscaler"],
            dict(row["addons"]),
        )
        for version, row in table.items()
    }


def today() -> datetime.date:
    """The day the checks are made for (tests replace it)."""
    return datetime.date.today()


def problems(version: str, support_type: str, day: datetime.date) -> tuple[list[str], list[str]]:
    """(errors, warnings) for running `version` on `day` with the cluster's upgrade policy."""
    row = versions()[version]
    if day >= row.end_of_extended_support:
        return [f"{version} left EKS extended support on {row.end_of_extended_support}; upgrade the cluster"], []
    left = (row.end_of_standard_support - day).days
    if left <= 0:
        then = (
            "the cluster is billed extended support ($0.60/h instead of $0.10/h)"
            if support_type == "EXTENDED"
            else "AWS upgrades the control plane to the next version on its own"
        )
        return [], [f"{version} left EKS standard support on {row.end_of_standard_support}: {then}; upgrade"]
    if left <= WARN_DAYS:
        then = "extended support is billed" if support_type == "EXTENDED" else "AWS upgrades the control plane itself"
        return [], [
            f"{version} leaves EKS standard support on {row.end_of_standard_support} ({left} days); after that "
            f"{then}; plan the upgrade (docs/operations.md, Upgrades)"
        ]
    return [], []
