"""Kubernetes versions: a dated support table, stacks inside standard support, warnings before it ends, the
upgrade policy on the cluster, the autoscaler on the cluster's minor, and extended support priced."""

from __future__ import annotations

import datetime

import pytest

from offline.costs import idle_cost, load_prices
from offline.engine import Plan, ProgramError
from stackconfig import kubernetes
from stackconfig.loader import ConfigError
from tests.conftest import plan_with, stack_config


def _plus_months(day: datetime.date, months: int) -> datetime.date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)


def test_the_table_follows_the_eks_support_rules() -> None:
    """14 months of standard support from the EKS release, then 12 of extended support (EKS user guide)."""
    assert kubernetes.versions()
    for row in kubernetes.versions().values():
        assert row.end_of_extended_support == _plus_months(row.end_of_standard_support, 12), row.version
        months = (row.end_of_standard_support.year - row.released.year) * 12 + (
            row.end_of_standard_support.month - row.released.month
        )
        assert months == 14, row.version
        assert row.autoscaler.startswith(f"v{row.version}."), row.version


def test_both_stacks_are_in_standard_support_today_and_for_the_warning_window(plan: Plan) -> None:
    """A pin that leaves support is a bug: this fails 60 days before it happens, until the stacks move on."""
    version = kubernetes.versions()[plan.config.cluster.kubernetes_version]
    assert kubernetes.today() + datetime.timedelta(days=kubernetes.WARN_DAYS) < version.end_of_standard_support
    assert not [w for w in plan.warnings if "kubernetesVersion" in w]


def test_upgrade_policy_and_network_policy_reach_the_cluster(plan: Plan) -> None:
    inputs = plan.one("eks:index:Cluster").inputs
    assert inputs["version"] == stack_config(plan)["dandihub:cluster"]["kubernetesVersion"]
    assert inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    assert inputs["vpcCniOptions"]["enableNetworkPolicy"] is True


def test_autoscaler_runs_the_newest_patch_of_the_clusters_minor(plan: Plan) -> None:
    release = plan.one("kubernetes:helm.sh/v3:Release", "autoscaler-release")
    version = plan.config.cluster.kubernetes_version
    assert release.inputs["values"]["image"]["tag"] == kubernetes.versions()[version].autoscaler
    assert release.inputs["values"]["image"]["tag"] != "v1.35.0", "the chart's default is not the newest patch"


def test_a_version_nearing_the_end_of_standard_support_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    end = kubernetes.versions()["1.35"].end_of_standard_support
    monkeypatch.setattr(kubernetes, "today", lambda: end - datetime.timedelta(days=30))
    (warning,) = [w for w in plan_with("staging").warnings if "kubernetesVersion" in w]
    assert warning.startswith("dandihub:cluster.kubernetesVersion: 1.35 leaves EKS standard support on 2027-03-27")
    assert "(30 days)" in warning and "AWS upgrades the control plane itself" in warning
    monkeypatch.setattr(kubernetes, "today", lambda: end - datetime.timedelta(days=kubernetes.WARN_DAYS + 1))
    assert not [w for w in plan_with("staging").warnings if "kubernetesVersion" in w]


def test_a_version_past_extended_support_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    end = kubernetes.versions()["1.35"].end_of_extended_support
    monkeypatch.setattr(kubernetes, "today", lambda: end)
    with pytest.raises(ProgramError) as failure:
        plan_with("prod")
    assert isinstance(failure.value.__cause__, ConfigError)
    assert "dandihub:cluster.kubernetesVersion: 1.35 left EKS extended support on 2028-03-27" in str(failure.value)
    assert failure.value.plan.resources == []


def test_extended_support_is_priced_when_a_stack_pays_it(monkeypatch: pytest.MonkeyPatch) -> None:
    prices = load_prices()
    version = kubernetes.versions()["1.35"]
    plan = plan_with("staging", set_={"cluster.supportType": "EXTENDED"})
    assert plan.one("eks:index:Cluster").inputs["upgradePolicy"] == {"supportType": "EXTENDED"}
    (line,) = [x for x in idle_cost(plan.config).lines if x.what.startswith("EKS control plane")]
    assert line.monthly == pytest.approx(prices["eks_control_plane_hour"] * prices["hours_per_month"])
    assert "extended support from 2027-03-27: $438" in line.what
    monkeypatch.setattr(kubernetes, "today", lambda: version.end_of_standard_support)
    (line,) = [x for x in idle_cost(plan.config).lines if x.what.startswith("EKS control plane")]
    assert line.monthly == pytest.approx(0.60 * prices["hours_per_month"])
    standard = idle_cost(plan_with("staging").config)
    assert idle_cost(plan.config).monthly - standard.monthly == pytest.approx(0.50 * 730)
