"""Kubernetes versions: a dated support table, stacks inside standard support, warnings before it ends, the
upgrade policy on the cluster, the autoscaler on the cluster's minor, and extended support priced."""

from __future__ import annotations

import datetime
import re

import pytest

from offline import support_dates
from offline.costs import idle_cost, load_prices
from offline.engine import Plan, ProgramError
from stackconfig import kubernetes
from stackconfig.loader import ConfigError
from tests.conftest import plan_with, stack_config
from tests.test_workflows import load, steps


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


def test_the_stacks_are_inside_extended_support_today(plan: Plan) -> None:
    """The suite runs before every deploy: it may only fail where the config check refuses (past extended
    support). Nearing or passing the end of standard support warns (offline/support_dates.py on the deploy
    run, and the plan), so an urgent fix still deploys."""
    version = kubernetes.versions()[plan.config.cluster.kubernetes_version]
    assert kubernetes.today() < version.end_of_extended_support


@pytest.mark.parametrize("days_before_end", [60, 0])
def test_the_deploy_run_warns_near_and_after_the_end_of_standard_support_and_goes_on(
    days_before_end: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2027-01-26 is 60 days before 1.35 leaves standard support: the deploy must still run that day."""
    end = kubernetes.versions()["1.35"].end_of_standard_support
    monkeypatch.setattr(kubernetes, "today", lambda: end - datetime.timedelta(days=days_before_end))
    lines, status = support_dates.support_annotations("staging")
    assert status == 0
    (line,) = lines
    assert line.startswith("::warning title=Kubernetes support (staging)::1.35 ")
    assert "2027-03-27" in line  # the config check only warns then too (the test above)


def test_the_deploy_run_stops_only_past_extended_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubernetes, "today", lambda: kubernetes.versions()["1.35"].end_of_extended_support)
    lines, status = support_dates.support_annotations("prod")
    assert status == 1 and lines == [
        "::error title=Kubernetes support (prod)::1.35 left EKS extended support on 2028-03-27; upgrade the cluster"
    ]


def test_the_deploy_workflow_runs_the_support_check_before_up() -> None:
    names = [s.get("name") or s.get("uses") for s in steps(load("deploy.yml"))]
    check = names.index("Kubernetes support dates")
    assert (
        names.index("Tests (the README's test command)")
        < check
        < next(i for i, n in enumerate(names) if n.startswith("pulumi/actions@"))
    )
    (run,) = [s["run"] for s in steps(load("deploy.yml")) if s.get("name") == "Kubernetes support dates"]
    assert run == 'venv/bin/python -m offline.support_dates "$STACK"'
    assert "continue-on-error" not in run


ADDONS = {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "aws-efs-csi-driver",
          "amazon-cloudwatch-observability", "eks-pod-identity-agent"}  # fmt: skip


def test_every_minor_pins_every_add_on() -> None:
    for row in kubernetes.versions().values():
        assert set(row.addons) == ADDONS, row.version
        for name, version in row.addons.items():
            assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", version), (row.version, name, version)
        # kube-proxy must match the cluster's minor (EKS user guide, managing-kube-proxy).
        assert row.addons["kube-proxy"].startswith(f"v{row.version}."), row.version


def installed_add_ons(plan: Plan) -> dict[str, str]:
    """Add-on name -> version, as the program asks pulumi-eks (VPC CNI, CoreDNS, kube-proxy) and EKS for them."""
    cluster = plan.one("eks:index:Cluster").inputs
    return {
        "vpc-cni": cluster["vpcCniOptions"]["addonVersion"],
        "coredns": cluster["corednsAddonOptions"]["version"],
        "kube-proxy": cluster["kubeProxyAddonOptions"]["version"],
    } | {a.inputs["addonName"]: a.inputs["addonVersion"] for a in plan.of_type("aws:eks/addon:Addon")}


def test_add_ons_are_pinned_from_the_table(plan: Plan) -> None:
    assert installed_add_ons(plan) == kubernetes.versions()[plan.config.cluster.kubernetes_version].addons


def test_changing_the_minor_upgrades_every_add_on_in_the_same_up(staging: Plan) -> None:
    older = plan_with("staging", set_={"cluster.kubernetesVersion": "1.34"})
    assert installed_add_ons(older) == kubernetes.versions()["1.34"].addons
    assert installed_add_ons(older)["kube-proxy"] != installed_add_ons(staging)["kube-proxy"]


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
