"""The hub release: values reaching the chart, auth per stack, profiles vs node groups, mounts, DNS."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import time
from typing import Any

import pytest

from offline.engine import Plan
from offline.fake_cloud import ACCOUNT_ID
from offline.stack_files import FAKE_SECRETS
from stackconfig import kubernetes
from stackconfig.profiles import DEFAULT_PROFILES
from tests.charts import of_kind, render
from tests.conftest import ROOT, plan_with, stack_config

LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "https",
    "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
    "service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout": "3600",
}


def release(plan: Plan):
    return plan.one("kubernetes:helm.sh/v3:Release", "hub-release")


def values(plan: Plan) -> dict[str, Any]:
    return release(plan).inputs["values"]


def test_release_of_the_pinned_official_chart(plan: Plan) -> None:
    inputs = release(plan).inputs
    assert inputs["chart"] == "jupyterhub"
    assert inputs["version"] == "4.4.0"
    assert inputs["repositoryOpts"] == {"repo": "https://hub.jupyter.org/helm-chart/"}
    assert inputs["namespace"] == "dandihub"
    assert inputs["timeout"] >= 600


def test_release_waits_for_storage_and_nodes(plan: Plan) -> None:
    deps = set(release(plan).dependencies)
    assert {g.urn for g in plan.of_type("eks:index:ManagedNodeGroup")} <= deps
    assert plan.one("kubernetes:core/v1:PersistentVolumeClaim").urn in deps
    assert plan.one("kubernetes:core/v1:PersistentVolume").urn in deps
    assert plan.one("kubernetes:storage.k8s.io/v1:StorageClass", "cluster-gp3").urn in deps


def test_values_are_secret_and_hold_the_secrets(plan: Plan) -> None:
    assert "values" in release(plan).secret_inputs
    config = values(plan)["hub"]["config"]
    assert config["GitHubOAuthenticator"]["client_secret"] == FAKE_SECRETS["dandihub:githubClientSecret"]
    (archive,) = config["DandiGitHubAuthenticator"]["archives"]
    assert archive["token"] == FAKE_SECRETS["dandihub:dandiApiToken"]


def test_github_login_per_stack(plan: Plan) -> None:
    auth = stack_config(plan)["dandihub:hub"]["auth"]
    domain = stack_config(plan)["dandihub:hub"]["domain"]
    config = values(plan)["hub"]["config"]
    github = config["GitHubOAuthenticator"]
    assert github["client_id"] == auth["githubClientId"]
    assert github["oauth_callback_url"] == f"https://{domain}/hub/oauth_callback"
    assert github["scope"] == ["read:user", "user:email", "gist"]
    assert "allow_all" not in github
    assert config["Authenticator"] == {"enable_auth_state": True, "admin_users": auth["adminUsers"]}
    # Named explicitly (the chart's default is dummy); the DANDI gate's extraConfig then swaps in its subclass.
    assert config["JupyterHub"]["authenticator_class"] == "github"


def test_dandi_gate_per_stack(staging: Plan, prod: Plan) -> None:
    gate = {p.stack: values(p)["hub"]["config"]["DandiGitHubAuthenticator"] for p in (staging, prod)}
    token = FAKE_SECRETS["dandihub:dandiApiToken"]
    assert gate["staging"]["archives"] == [
        {
            "name": "dandi",
            "display_name": "DANDI (staging)",
            "api_url": "https://api-staging.dandiarchive.org/api",
            "user_lookup": "approved-list",
            "token": token,
            "registration_url": "https://gui-staging.dandiarchive.org",
            "group": "archive-dandi",
        }
    ]
    assert gate["prod"]["archives"] == [
        {
            "name": "dandi",
            "display_name": "DANDI",
            "api_url": "https://api.dandiarchive.org/api",
            "user_lookup": "approved-list",
            "token": token,
            "registration_url": "https://dandiarchive.org",
            "group": "archive-dandi",
        }
    ]
    source = (ROOT / "values" / "jupyterhub_dandi_auth.py").read_text()
    for plan in (staging, prod):
        assert values(plan)["hub"]["extraConfig"]["dandi-auth"] == source


def test_without_the_gate_any_github_user_is_admitted_explicitly() -> None:
    hub = values(plan_with("staging", set_={"hub.auth.requireDandiUser": False}))["hub"]
    assert hub["config"]["JupyterHub"]["authenticator_class"] == "github"
    assert hub["config"]["GitHubOAuthenticator"]["allow_all"] is True
    assert "dandi-auth" not in hub["extraConfig"]
    assert "DandiGitHubAuthenticator" not in hub["config"]


def test_shared_password_login_where_enabled() -> None:
    plan = plan_with("staging", set_={"hub.auth": {"type": "shared-password", "adminUsers": ["satra"]}})
    config = values(plan)["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "shared-password"
    assert config["SharedPasswordAuthenticator"] == {
        "user_password": FAKE_SECRETS["dandihub:sharedPassword"],
        "admin_password": FAKE_SECRETS["dandihub:sharedAdminPassword"],
    }
    assert config["Authenticator"]["allow_all"] is True
    assert "client_secret" not in config.get("GitHubOAuthenticator", {})
    assert "values" in release(plan).secret_inputs


def test_https_offload_on_the_load_balancer(plan: Plan) -> None:
    proxy = values(plan)["proxy"]
    hub = stack_config(plan)["dandihub:hub"]
    assert proxy["https"] == {"enabled": True, "type": "offload", "hosts": [hub["domain"]]}
    assert proxy["service"]["annotations"] == {
        **LB_ANNOTATIONS,
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": hub["certificateArn"],
        "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags": (
            f"Project=dandihub,Stack={plan.stack},Owner=dandi,CostCenter=dandihub-{plan.stack},ManagedBy=pulumi"
        ),
    }


def test_proxy_token_comes_from_state_not_from_each_run(plan: Plan) -> None:
    token = plan.one("random:index/randomPassword:RandomPassword", "hub-proxy-token")
    assert token.inputs["length"] >= 32 and token.inputs["special"] is False
    assert values(plan)["proxy"]["secretToken"] == f"offline-random-{token.name}"
    assert token.urn in release(plan).dependencies


def _group_taints(plan: Plan, group: str) -> list[dict[str, str]]:
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    inputs = plan.one("eks:index:ManagedNodeGroup", f"cluster-{group}").inputs
    return [
        {"key": t["key"], "operator": "Equal", "value": t["value"], "effect": effects[t["effect"]]}
        for t in inputs.get("taints", [])
    ]


def test_every_profile_lands_on_a_node_group_it_tolerates(plan: Plan) -> None:
    groups = {r.inputs["labels"]["dandiarchive.org/node-group"]: r for r in plan.of_type("eks:index:ManagedNodeGroup")}
    for profile in values(plan)["singleuser"]["profileList"]:
        override = profile["kubespawner_override"]
        (group,) = override["node_selector"].values()
        labels = groups[group].inputs["labels"]
        assert all(labels.get(k) == v for k, v in override["node_selector"].items())
        assert labels["hub.jupyter.org/node-purpose"] == "user", "servers never land on core nodes"
        assert override["tolerations"] == _group_taints(plan, group)


def test_prod_menu_is_the_default_menu_plus_workshops_while_one_runs(prod: Plan) -> None:
    """Outside any event (none is configured) the workshop profile is not listed."""
    menu = {p["slug"]: p for p in values(prod)["singleuser"]["profileList"]}
    assert list(menu) == ["tiny", "base", "medium", "large", "gpu"]
    defaults = [p.model_dump(by_alias=True) for p in DEFAULT_PROFILES]
    assert [p for p in prod.config.hub.model_dump(by_alias=True)["profiles"] if p["slug"] != "workshop"] == defaults
    ranges = {
        s: tuple(p["kubespawner_override"][k] for k in ("cpu_guarantee", "cpu_limit", "mem_guarantee", "mem_limit"))
        for s, p in menu.items()
    }
    assert ranges == {
        "tiny": (0.25, 2, "512M", "2G"),
        "base": (6, 7.5, "16G", "28G"),
        "medium": (12, 24, "32G", "64G"),
        "large": (24, 31, "64G", "96G"),
        "gpu": (6, 7.5, "24G", "28G"),
    }
    assert [s for s, p in menu.items() if p.get("default")] == ["base"]
    gpu = menu["gpu"]["kubespawner_override"]
    assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "1", "ephemeral-storage": str(22 * 1024**3)}
    # Pinned, and pulled through prod's Docker Hub mirror in its own account and region.
    pinned = {key: image.image for key, image in prod.config.hub.images.items()}
    mirror = f"{ACCOUNT_ID}.dkr.ecr.us-east-2.amazonaws.com/docker-hub-prod/"
    assert pinned["gpu"].startswith("dandiarchive/dandihub:latest-gpu@sha256:")
    assert gpu["image"] == mirror + pinned["gpu"]
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in gpu[
        "tolerations"
    ]
    choices = menu["base"]["profile_options"]["image"]["choices"]
    assert {k: c["kubespawner_override"]["image"] for k, c in choices.items()} == {
        "standard": mirror + pinned["standard"],
        "matlab": mirror + pinned["matlab"],
    }
    assert [k for k, c in choices.items() if c["default"]] == ["standard"]


def test_workshop_profile_uses_an_on_demand_group_from_zero(plan: Plan) -> None:
    (workshop,) = [p for p in plan.config.hub.profiles if p.slug == "workshop"]
    group = workshop.node_group
    inputs = plan.one("eks:index:ManagedNodeGroup", f"cluster-{group}").inputs
    assert inputs["capacityType"] == "ON_DEMAND"
    assert inputs["scalingConfig"]["minSize"] == 0


def test_homes_and_shares_on_the_efs_claim(plan: Plan) -> None:
    singleuser = values(plan)["singleuser"]
    storage = singleuser["storage"]
    assert storage["type"] == "static"
    assert storage["static"] == {"pvcName": "efs-claim", "subPath": "home/{safe_username}"}
    assert storage["homeMountPath"] == "/home/jovyan"
    mounts = {m["mountPath"]: m for m in storage["extraVolumeMounts"]}
    assert mounts["/groups"] == {"name": "home", "mountPath": "/groups", "subPath": "groups", "readOnly": True}
    assert mounts["/shared"] == {"name": "home", "mountPath": "/shared", "subPath": "shared", "readOnly": True}
    assert mounts["/readonly"] == {"name": "home", "mountPath": "/readonly", "subPath": "readonly", "readOnly": True}
    assert mounts["/dev/shm"]["name"] == "shm-volume"
    assert {"name": "shm-volume", "emptyDir": {"medium": "Memory"}} in storage["extraVolumes"]


def test_ownership_fixed_by_a_root_init_container_while_the_notebook_is_unprivileged(plan: Plan) -> None:
    singleuser = values(plan)["singleuser"]
    _restore, fixer = singleuser["initContainers"]
    assert fixer["securityContext"] == {"runAsUser": 0}
    # The home only: the layout Job sets the rest.
    assert fixer["command"][-1] == "chmod 0775 /nfs && chown 1000:100 /nfs"
    assert {m["mountPath"]: m["subPath"] for m in fixer["volumeMounts"]} == {"/nfs": "home/{safe_username}"}
    assert (singleuser["uid"], singleuser["fsGid"]) == (1000, 100)
    assert "allowPrivilegeEscalation" not in singleuser
    assert "container_security_context" not in values(plan)["hub"]["config"].get("KubeSpawner", {})


def test_privileged_user_pods_only_on_request() -> None:
    v = values(plan_with("staging", set_={"hub.privilegedUserPods": True}))
    assert v["hub"]["config"]["KubeSpawner"]["container_security_context"] == {"privileged": True}
    assert v["singleuser"]["allowPrivilegeEscalation"] is True


def test_operations_settings(plan: Plan) -> None:
    v = values(plan)
    # Production stops every server after a week unless its stack file lifts it (maxAge: 0).
    max_age = {"staging": 0, "prod": 7 * 24 * 3600}[plan.stack]
    assert v["cull"] == {"enabled": True, "timeout": 3600, "every": 300, "maxAge": max_age}
    assert v["hub"]["config"]["JupyterHub"]["template_vars"] == {"server_max_age": "7 days" if max_age else ""}
    assert v["singleuser"]["defaultUrl"] == "/lab"
    assert v["singleuser"]["startTimeout"] == 1200
    command = v["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    assert "gitpuller https://github.com/dandi/example-notebooks master dandi-notebooks; " in command[2]
    assert 'git config --global user.email "${GITHUB_EMAIL}"' in command[2]
    scheduling = v["scheduling"]
    assert scheduling["userScheduler"]["enabled"] and scheduling["podPriority"]["enabled"]
    assert scheduling["corePods"]["nodeAffinity"]["matchNodePurpose"] == "require"
    assert scheduling["userPods"]["nodeAffinity"]["matchNodePurpose"] == "require"
    assert v["hub"]["db"] == {"type": "sqlite-pvc", "pvc": {"storage": "1Gi", "storageClassName": "gp3"}}


def test_culling_from_config() -> None:
    v = values(plan_with("staging", set_={"hub.culling": {"timeout": 7200, "every": 600}}))
    assert (v["cull"]["timeout"], v["cull"]["every"]) == (7200, 600)
    lifted = values(plan_with("prod", set_={"hub.culling": {"maxAge": 0}}))
    assert lifted["cull"]["maxAge"] == 0
    assert lifted["hub"]["config"]["JupyterHub"]["template_vars"]["server_max_age"] == ""
    longer = values(plan_with("prod", set_={"hub.culling": {"maxAge": 36 * 3600, "timeout": 7200}}))
    assert longer["cull"]["maxAge"] == 36 * 3600 and longer["cull"]["timeout"] == 7200
    assert longer["hub"]["config"]["JupyterHub"]["template_vars"]["server_max_age"] == "36 hours"


def test_the_charts_single_puller_gives_way_to_one_per_group(plan: Plan) -> None:
    puller = values(plan)["prePuller"]
    assert puller["continuous"] == {"enabled": False} and puller["hook"] == {"enabled": False}
    assert puller["pullProfileListImages"] is False


def test_no_dns_record_without_a_zone(plan: Plan) -> None:
    assert plan.of_type("aws:route53/record:Record") == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_dns_record_points_at_the_proxy_load_balancer(stack: str) -> None:
    plan = plan_with(stack, set_={"hub.route53ZoneId": "Z0123456789ABCDEFGHIJ"})
    record = plan.one("aws:route53/record:Record").inputs
    service = plan.one("kubernetes:core/v1:Service")
    assert service.read_id == "dandihub/proxy-public"
    assert release(plan).urn in service.dependencies
    assert record["zoneId"] == "Z0123456789ABCDEFGHIJ"
    assert record["name"] == stack_config(plan)["dandihub:hub"]["domain"]
    assert record["type"] == "CNAME"
    assert record["records"] == [plan.outputs["loadBalancerHostname"]]
    assert plan.outputs["loadBalancerHostname"].endswith(".elb.amazonaws.com")


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("dandiarchive/dandihub:latest-gpu", ("dandiarchive/dandihub", "latest-gpu")),
        ("dandiarchive/dandihub", ("dandiarchive/dandihub", "latest")),
        ("registry.example.org:5000/dandihub", ("registry.example.org:5000/dandihub", "latest")),
        ("dandiarchive/dandihub:v1@sha256:" + "a" * 64, ("dandiarchive/dandihub", "v1@sha256:" + "a" * 64)),
    ],
)
def test_image_references_split_into_name_and_tag(reference: str, parts: tuple[str, str]) -> None:
    from components.singleuser_values import image_parts

    assert image_parts(reference) == parts


def warm_seats(plan: Plan) -> dict[str, int]:
    """Standing seats (StatefulSets, by profile) and events' seats (Jobs, by event)."""
    standing = {r.inputs["metadata"]["name"]: r.inputs["spec"]["replicas"] for r in _seats(plan, STATEFUL_SET)}
    return standing | {r.inputs["metadata"]["name"]: r.inputs["spec"]["parallelism"] for r in _seats(plan, JOB)}


def _seats(plan: Plan, kind: str) -> list:
    """The seats among the program's objects of this kind (other Jobs, such as the file system layout's, aside)."""
    return [
        r
        for r in plan.of_type(kind)
        if r.inputs["spec"]["template"]["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "placeholder"
    ]


def menu(plan: Plan) -> list[str]:
    return [p["slug"] for p in values(plan)["singleuser"]["profileList"]]


def test_no_warm_seats_unless_configured_and_the_charts_own_set_stays_empty(plan: Plan) -> None:
    assert warm_seats(plan) == {}
    assert values(plan)["scheduling"]["userPlaceholder"]["replicas"] == 0
    (chart_set,) = of_kind(render(release(plan)), "StatefulSet", "user-placeholder")
    assert chart_set["spec"]["replicas"] == 0


def test_warm_seats_per_profile_on_its_own_group() -> None:
    plan = plan_with("prod", set_={"hub.warmSeats": {"base": 2, "gpu": 1, "large": 0}})
    assert warm_seats(plan) == {"placeholder-base": 2, "placeholder-gpu": 1}
    gpu = next(r for r in plan.of_type("kubernetes:apps/v1:StatefulSet") if r.name.endswith("-gpu")).inputs
    spec = gpu["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"dandiarchive.org/node-group": "gpu"}
    assert spec["tolerations"] == _group_taints(plan, "gpu")
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": 6, "memory": 24 * 1024**3, "ephemeral-storage": 2 * 1024**3},
        "limits": {"nvidia.com/gpu": 1},
    }  # fmt: skip


STATEFUL_SET, JOB = "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job"
EVENT = {"name": "nwb-tutorial", "profile": "workshop", "seats": 12, "start": "2026-12-07", "end": "2026-12-09"}


@pytest.mark.parametrize(
    ("day", "seats", "listed"),
    [
        ("2026-12-06", {}, False),
        ("2026-12-07", {"seats-nwb-tutorial": 12}, True),
        ("2026-12-09", {"seats-nwb-tutorial": 12}, True),
        ("2026-12-10", {}, False),
    ],
)
def test_an_events_seats_and_profile_exist_only_inside_its_dates(
    monkeypatch: pytest.MonkeyPatch, day: str, seats: dict[str, int], listed: bool
) -> None:
    monkeypatch.setattr(kubernetes, "today", lambda: datetime.date.fromisoformat(day))
    plan = plan_with("staging", set_={"hub.events": [EVENT]})
    assert warm_seats(plan) == seats
    assert ("workshop" in menu(plan)) is listed
    assert {"tiny", "base", "gpu"} <= set(menu(plan))


def test_an_events_seats_add_to_the_standing_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubernetes, "today", lambda: datetime.date(2026, 12, 8))
    plan = plan_with("staging", set_={"hub.events": [EVENT], "hub.warmSeats": {"workshop": 2}})
    assert warm_seats(plan) == {"placeholder-workshop": 2, "seats-nwb-tutorial": 12}


def test_an_events_seats_end_by_themselves_after_its_last_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a `pulumi up`: each seat exits 0 at 00:00 UTC after the last day, so the Job completes and
    its nodes go; a seat a server evicts is replaced, not counted as a failure."""
    monkeypatch.setattr(kubernetes, "today", lambda: datetime.date(2026, 12, 8))
    (job,) = [r.inputs for r in _seats(plan_with("staging", set_={"hub.events": [EVENT]}), JOB)]
    assert job["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    spec = job["spec"]
    assert spec["completions"] == spec["parallelism"] == 12
    assert spec["podFailurePolicy"] == {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
    }
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (seat,) = pod["containers"]
    assert seat["command"][-1] == "2026-12-10T00:00:00+00:00"
    user = int(seat["securityContext"]["runAsUser"])

    def run_until(end: datetime.datetime) -> float:
        started = time.monotonic()
        # As the seat's user, with a system interpreter that user can run (the image's is python3 too).
        python = shutil.which("python3", path="/usr/local/bin:/usr/bin") or sys.executable
        subprocess.run(
            [python, *seat["command"][1:-1], end.isoformat()], check=True, timeout=30, user=user, group=user,
            extra_groups=[],
        )  # fmt: skip
        return time.monotonic() - started

    now = datetime.datetime.now(datetime.UTC)
    assert run_until(now - datetime.timedelta(days=1)) < 5, "after the event a seat ends at once"
    assert run_until(now + datetime.timedelta(seconds=2)) >= 1.5, "before its end a seat waits"


def test_up_does_not_wait_for_seats_the_autoscaler_is_still_placing() -> None:
    """pulumi-kubernetes waits for a StatefulSet's replicas to be ready unless told to skip
    (the `pulumi.com/skipAwait` annotation)."""
    plan = plan_with("prod", set_={"hub.warmSeats": {"base": 2}})
    (seats,) = plan.of_type("kubernetes:apps/v1:StatefulSet")
    assert seats.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}


def test_escaped_home_names_drive_the_home_volume_and_the_fixer_alike() -> None:
    singleuser = values(plan_with("staging", set_={"hub.homeNames": "escaped"}))["singleuser"]
    assert singleuser["storage"]["static"]["subPath"] == "home/{escaped_username}"
    _restore, fixer = singleuser["initContainers"]
    assert {"name": "home", "mountPath": "/nfs", "subPath": "home/{escaped_username}"} in fixer["volumeMounts"]


EMBER = {
    "name": "ember",
    "displayName": "EMBER",
    "apiUrl": "https://api-dandi.emberarchive.org/api",
    "registrationUrl": "https://dandi.emberarchive.org",
}


def test_several_archives_each_with_its_own_secret_token() -> None:
    archives = [*stack_config_archives("staging"), EMBER]
    secrets = {**FAKE_SECRETS, "dandihub:emberApiToken": "offline-fake-ember-token"}
    plan = plan_with("staging", secrets=secrets, set_={"hub.auth.archives": archives})
    gate = values(plan)["hub"]["config"]["DandiGitHubAuthenticator"]["archives"]
    assert [(a["name"], a["token"]) for a in gate] == [
        ("dandi", FAKE_SECRETS["dandihub:dandiApiToken"]),
        ("ember", "offline-fake-ember-token"),
    ]
    assert "values" in release(plan).secret_inputs


def stack_config_archives(stack: str) -> list[dict]:
    from offline.stack_files import read_stack_config

    return read_stack_config(stack)["dandihub:hub"]["auth"]["archives"]


def test_the_programs_pause_image_is_the_charts_own(staging: Plan) -> None:
    """Warm seats and pullers run the pause image the pinned chart renders for its own placeholders."""
    from components.images import PAUSE

    (chart_set,) = of_kind(render(release(staging)), "StatefulSet", "user-placeholder")
    (pause,) = chart_set["spec"]["template"]["spec"]["containers"]
    assert pause["image"] == PAUSE


def test_the_load_balancer_kubernetes_makes_carry_the_cost_tags(plan: Plan) -> None:
    annotations = values(plan)["proxy"]["service"]["annotations"]
    tags = dict(
        t.split("=", 1)
        for t in annotations["service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags"].split(",")
    )
    assert tags["Stack"] == plan.stack and {"Project", "Owner", "CostCenter"} <= set(tags)
