"""The whole chain with the real upstream code: every chart rendered by Helm's engine from the values its
release sends; every Kubernetes object validated against the cluster minor's OpenAPI schemas (strict);
the hub's configuration loaded by the chart's own loader; every user pod built by the real KubeSpawner,
placed on the recorded node groups and fitted to their nodes. Test-only: nothing here changes what is
deployed (README, What the offline tests cannot show)."""

from __future__ import annotations

import asyncio
import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from oauthenticator.github import GitHubOAuthenticator

from offline.engine import Plan
from offline.fake_cloud import ACCOUNT_ID
from offline.spawner import expand
from stackconfig import kubernetes
from stackconfig.image_refs import through_mirror
from stackconfig.profiles import PROFILE_LABEL
from tests.charts import Manifest, of_kind, pod_specs, render
from tests.conftest import plan_with
from tests.hub_chain import authenticator_class, load_hub_config, unrecognised_settings, user_pod
from tests.kube_schema import validation_errors
from tests.pod_security import baseline_violations
from tests.scheduling import NodeGroup, landing_groups, limits, node_groups, requests, room_left

# A login whose safe and escaped home names differ (it starts with a digit), so a mismatch shows.
LOGIN = "1abc"
AUTH_STATE = {"access_token": "gh-token", "github_user": {"login": LOGIN, "email": "user@example.org"}}
EXISTING_VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "publicSubnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    "privateSubnetIds": ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"],
}
TODAY = kubernetes.today()
# A workshop running today: its profile is listed (so its servers are built and checked) and its seats warm.
TUTORIAL = {"name": "tutorial", "profile": "workshop", "seats": 3, "start": str(TODAY), "end": str(TODAY)}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "staging": ("staging", {}),
    "prod": ("prod", {}),
    "shared-password": ("staging", {"hub.auth": {"type": "shared-password", "adminUsers": ["satra"]}}),
    "privileged-with-warm-seats": (
        "staging",
        {"hub.privilegedUserPods": True, "hub.warmSeats": {"tiny": 1, "base": 2, "gpu": 1}, "hub.events": [TUTORIAL]},
    ),
    "no-archive-gate": ("staging", {"hub.auth.requireDandiUser": False}),
    "existing-vpc": ("staging", {"network.existing": EXISTING_VPC}),
    "escaped-homes-during-a-workshop": ("prod", {"hub.homeNames": "escaped", "hub.events": [TUTORIAL]}),
}


@dataclass
class Chain:
    """One variant's plan and what the real upstream code makes of it (computed once, when first asked)."""

    name: str
    plan: Plan
    workdir: Path
    _pods: dict[str, dict[str, Any]] = field(default_factory=dict)

    @functools.cached_property
    def rendered(self) -> dict[str, list[Manifest]]:
        return {r.name: render(r) for r in self.plan.of_type("kubernetes:helm.sh/v3:Release")}

    @property
    def hub(self) -> list[Manifest]:
        return self.rendered["hub-release"]

    @functools.cached_property
    def hub_config(self) -> Any:
        return load_hub_config(self.hub, self.workdir / "hub", self.plan.config.hub.namespace)

    @functools.cached_property
    def groups(self) -> dict[str, NodeGroup]:
        return node_groups(self.plan)

    @functools.cached_property
    def daemons(self) -> list[dict[str, Any]]:
        """Pod specs of every DaemonSet, rendered or the program's own: each takes its share of a node."""
        rendered = [m["spec"]["template"]["spec"] for ms in self.rendered.values() for m in of_kind(ms, "DaemonSet")]
        return rendered + [
            r.inputs["spec"]["template"]["spec"] for r in self.plan.of_type("kubernetes:apps/v1:DaemonSet")
        ]

    def choices(self) -> dict[str, dict[str, list[str]] | None]:
        """Every spawn a user can ask for: each profile with each of its images, and no choice at all."""
        spawns: dict[str, dict[str, list[str]] | None] = {"(no choice)": None}
        for profile in self.plan.config.hub.menu(kubernetes.today()):
            for image in profile.images:
                form = {"profile": [profile.slug]}
                if len(profile.images) > 1:
                    form[f"profile-option-{profile.slug}--image"] = [image]
                spawns[f"{profile.slug}/{image}"] = form
        return spawns

    def pod(self, choice: str) -> dict[str, Any]:
        if choice not in self._pods:
            self._pods[choice] = user_pod(self.hub_config, LOGIN, self.choices()[choice], AUTH_STATE)
        return self._pods[choice]


# Each variant's chain, made once per session: pytest sets a parametrized module fixture up again each time
# the order of its tests comes back to a parameter, and a chain costs a program run and the charts' renders.
CHAINS: dict[str, Chain] = {}


@pytest.fixture(scope="module", params=list(VARIANTS))
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    if request.param not in CHAINS:
        stack, changes = VARIANTS[request.param]
        # The committed stacks' plans are the session's (tests only read plans).
        plan = plan_with(stack, set_=changes) if changes else request.getfixturevalue(stack)
        CHAINS[request.param] = Chain(request.param, plan, tmp_path_factory.mktemp(request.param))
    return CHAINS[request.param]


def mirror_of(plan: Plan) -> str | None:
    """Where the recorded Docker Hub cache rule serves its images (<account registry>/<prefix>), if any."""
    rules = plan.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    if not rules:
        return None
    (rule,) = rules
    return f"{ACCOUNT_ID}.dkr.ecr.{plan.config.region}.amazonaws.com/{rule.inputs['ecrRepositoryPrefix']}"


def pulled(plan: Plan, key: str) -> str:
    return through_mirror(plan.config.hub.images[key].image, mirror_of(plan))


def kubernetes_version(plan: Plan) -> str:
    return f"{plan.config.cluster.kubernetes_version}.0"


def program_objects(plan: Plan) -> list[Manifest]:
    """The Kubernetes objects the program creates itself, as manifests."""
    objects = []
    for r in plan.resources:
        match = re.fullmatch(r"kubernetes:([\w.]+)/(v\w+):(\w+)", r.type)
        if not match or r.read_id or match.group(1) == "helm.sh":
            continue
        group, version, kind = match.groups()
        objects.append({**r.inputs, "apiVersion": version if group == "core" else f"{group}/{version}", "kind": kind})
    return objects


# Charts ------------------------------------------------------------------------------------------------


def test_every_chart_renders_from_the_values_its_release_sends(chain: Chain) -> None:
    """Helm's own engine: the chart's values schema, then every template (a failure is Helm's message)."""
    assert {name: bool(manifests) for name, manifests in chain.rendered.items()} == dict.fromkeys(chain.rendered, True)
    assert {"hub-release", "autoscaler-release"} <= set(chain.rendered)


def test_every_kubernetes_object_validates_against_the_clusters_own_version(chain: Chain) -> None:
    objects = [m for ms in chain.rendered.values() for m in ms] + program_objects(chain.plan)
    assert {"Namespace", "StorageClass", "PersistentVolume", "PersistentVolumeClaim"} <= {o["kind"] for o in objects}
    assert validation_errors(objects, kubernetes_version(chain.plan)) == []


def test_validation_is_strict() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [], "nodeSelektor": {}}}
    assert validation_errors([pod], "1.35.0") == [
        "Pod/x: Additional properties are not allowed ('nodeSelektor' was unexpected)"
    ]


# The hub's configuration --------------------------------------------------------------------------------


def test_the_hub_loads_its_configuration_with_every_setting_recognised(chain: Chain) -> None:
    assert unrecognised_settings(chain.hub_config) == []
    # The culler the chart starts stops servers at maxAge, and the spawn page says so (with the home notices).
    (culler,) = [s for s in chain.hub_config.JupyterHub.services if s["name"] == "jupyterhub-idle-culler"]
    max_age = chain.plan.config.hub.culling.max_age
    assert (f"--max-age={max_age}" in culler["command"]) == (max_age > 0)
    assert set(chain.hub_config.JupyterHub.template_vars) == {"server_max_age", "home_limit"}
    auth = chain.plan.config.hub.auth
    cls = authenticator_class(chain.hub_config)
    if auth.type == "shared-password":
        # Built as the hub builds it: its own checks (lengths, the two passwords differ) run on the values.
        authenticator = cls(config=chain.hub_config)
        assert cls.__name__ == "NormalisingSharedPasswordAuthenticator"
        assert authenticator.user_password and authenticator.admin_password
        assert authenticator.admin_users == {"satra"}
        assert logins(authenticator) == {
            ("Satra", "user"): None,  # the case trick: an admin's name, typed differently, with the user password
            ("Satra", "admin"): ("satra", True),
            ("Newcomer", "user"): ("newcomer", False),
            ("newcomer", "admin"): None,
        }
    elif auth.require_dandi_user:
        # The extraConfig ran: its GitHub subclass, asking each configured archive.
        assert cls.__name__ == "DandiGitHubAuthenticator" and issubclass(cls, GitHubOAuthenticator)
        archives = chain.hub_config.DandiGitHubAuthenticator.archives
        assert [a["name"] for a in archives] == [a.name for a in auth.archives]
        assert "Register with the same GitHub account" in chain.hub_config.DandiGitHubAuthenticator.custom_403_message
    else:
        assert cls is GitHubOAuthenticator
        assert chain.hub_config.GitHubOAuthenticator.allow_all is True


def logins(authenticator: Any) -> dict[tuple[str, str], tuple[str, bool] | None]:
    """Who the real authenticator lets in, as whom, for each name and password (JupyterHub's own
    get_authenticated_user: authenticate, then normalise the name)."""
    passwords = {"user": authenticator.user_password, "admin": authenticator.admin_password}
    found = {}
    for name, kind in (("Satra", "user"), ("Satra", "admin"), ("Newcomer", "user"), ("newcomer", "admin")):
        data = {"username": name, "password": passwords[kind]}
        model = asyncio.run(authenticator.get_authenticated_user(None, data))
        found[(name, kind)] = (model["name"], model["admin"]) if model else None
    return found


def test_jupyterhubs_own_shared_password_class_lets_the_case_trick_in() -> None:
    """Teeth for the check above: JupyterHub 5.5's class puts `Satra` with the user password in satra's account."""
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

    stock = SharedPasswordAuthenticator(
        user_password="u" * 8, admin_password="a" * 32, admin_users={"satra"}, allow_all=True
    )
    assert logins(stock)[("Satra", "user")] == ("satra", False)


def test_the_unrecognised_setting_check_has_teeth(staging: Plan, tmp_path: Path) -> None:
    config = load_hub_config(render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release")), tmp_path, "dandihub")
    config.KubeSpawner.cpu_guarante = 1
    config.Nonsense.x = 1
    assert unrecognised_settings(config) == ["KubeSpawner.cpu_guarante", "Nonsense (no such class)"]


# User pods ----------------------------------------------------------------------------------------------


POD_VARIANTS = ["staging", "prod", "shared-password", "privileged-with-warm-seats", "escaped-homes-during-a-workshop"]


def home_mismatch(pod: dict[str, Any], claim: str, expected: str) -> list[str]:
    """How the pod's home and shares differ from the intended EFS claim and sub-paths ([] when right)."""
    spec = pod["spec"]
    (notebook,) = spec["containers"]
    claims = {v["name"]: (v.get("persistentVolumeClaim") or {}).get("claimName") for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in notebook["volumeMounts"]}
    (fixer,) = [c for c in spec["initContainers"] if c["name"] == "nfs-fixer"]
    fixer_mounts = {m["mountPath"]: m for m in fixer["volumeMounts"]}
    wanted = {"/home/jovyan": expected, "/groups": "groups", "/shared": "shared", "/readonly": "readonly"}
    found = [
        f"{path}: {mounts.get(path)}"
        for path, sub in wanted.items()
        if path not in mounts or mounts[path].get("subPath") != sub or claims[mounts[path]["name"]] != claim
    ]
    # Every user's files belong to the same uid: only a read-only mount keeps others' files safe.
    found += [f"{path} is writable" for path in ("/groups", "/shared", "/readonly") if not mounts[path].get("readOnly")]
    if fixer_mounts["/nfs"]["subPath"] != mounts["/home/jovyan"]["subPath"]:
        found.append(f"the fixer prepares {fixer_mounts['/nfs']['subPath']}, the notebook mounts {expected}")
    # The archived home comes back first, as the notebook's uid, into the directory the notebook mounts.
    restore = spec["initContainers"][0]
    restore_mounts = {m["mountPath"]: m for m in restore["volumeMounts"]}
    context = restore.get("securityContext") or {}
    if restore["name"] != "home-restore" or restore["command"][-2:] != ["/efs", expected.split("/", 1)[1]]:
        found.append(f"the first init container is {restore['name']} {restore['command'][-2:]}, not the restore")
    elif claims[restore_mounts["/efs"]["name"]] != claim or "subPath" in restore_mounts["/efs"]:
        found.append(f"the restore does not see the file system root: {restore_mounts['/efs']}")
    elif (context.get("runAsUser"), context.get("runAsGroup"), context.get("runAsNonRoot")) != (1000, 100, True):
        found.append(f"the restore runs as {context}")
    return found


def _check_pod(chain: Chain, choice: str) -> list[str]:
    """Every promise about one user pod; [] when all hold."""
    pod = chain.pod(choice)
    spec = pod["spec"]
    hub = chain.plan.config.hub
    slug = choice.split("/")[0]
    profile = next((p for p in hub.profiles if p.slug == slug), None) or next(
        (p for p in hub.profiles if p.default), hub.profiles[0]
    )
    problems = validation_errors([pod], kubernetes_version(chain.plan))
    landing = landing_groups(spec, chain.groups)
    if landing != {profile.node_group}:
        problems.append(f"lands on {sorted(landing)}, not only on {profile.node_group}")
    short = {k: v for k, v in room_left(spec, chain.groups[profile.node_group], chain.daemons).items() if v < 0}
    if short:
        problems.append(f"does not fit {profile.node_group}: short of {short}")
    expected = expand(LOGIN, hub.home_sub_path)
    problems += home_mismatch(pod, "efs-claim", expected)
    (notebook,) = spec["containers"]
    image = pulled(chain.plan, choice.split("/")[1] if "/" in choice else profile.images[0])
    if notebook["image"] != image:
        problems.append(f"runs {notebook['image']}, not {image}")
    # The same reference the group's puller brought to the node, which the runtime does not ask for again.
    puller = chain.plan.one("kubernetes:apps/v1:DaemonSet", f"hub-image-puller-{profile.node_group}")
    if image not in {c["image"] for c in puller.inputs["spec"]["template"]["spec"]["initContainers"]}:
        problems.append(f"{image} is not among the images the {profile.node_group} puller pulls")
    if notebook.get("imagePullPolicy") != "IfNotPresent":
        problems.append(f"pull policy {notebook.get('imagePullPolicy')}, not IfNotPresent")
    # An extended resource's request equals its limit.
    if limits(spec).get("nvidia.com/gpu", 0) != profile.gpus:
        problems.append(f"asks for {limits(spec).get('nvidia.com/gpu')} GPUs, not {profile.gpus}")
    context = notebook.get("securityContext") or {}
    if bool(context.get("privileged")) != hub.privileged_user_pods or context.get("runAsUser", 0) == 0:
        problems.append(f"notebook security context {context}")
    # The slow-start alert groups starts by this label (components/alert_rules.py); the chart's stay.
    labels = pod["metadata"]["labels"]
    if labels.get(PROFILE_LABEL) != profile.slug or labels.get("hub.jupyter.org/network-access-hub") != "true":
        problems.append(f"labels {labels}")
    violations = baseline_violations(spec)
    if violations and hub.pod_security_level == "baseline":
        problems.append(f"breaks Pod Security baseline: {violations}")
    return problems


@pytest.mark.parametrize("chain", POD_VARIANTS, indirect=True)
def test_every_user_pod_lands_on_its_group_fits_its_node_and_mounts_its_home(chain: Chain) -> None:
    found = {choice: _check_pod(chain, choice) for choice in chain.choices()}
    assert {choice: problems for choice, problems in found.items() if problems} == {}
    assert len(found) == 1 + sum(len(p.images) for p in chain.plan.config.hub.menu(TODAY))


@pytest.mark.parametrize("chain", ["staging"], indirect=True)
def test_the_pod_checks_have_teeth(chain: Chain) -> None:
    """A dropped toleration, a wrong sub-path and a profile too big for its node each fail a check."""
    pod = copy.deepcopy(chain.pod("gpu/gpu"))
    pod["spec"]["tolerations"] = [t for t in pod["spec"]["tolerations"] if t["key"] != "nvidia.com/gpu"]
    assert landing_groups(pod["spec"], chain.groups) == set()
    pod = copy.deepcopy(chain.pod("base/standard"))
    restore, fixer = pod["spec"]["initContainers"]
    fixer["volumeMounts"][0]["subPath"] = f"home/{LOGIN}"
    restore["command"][-1] = LOGIN
    assert home_mismatch(pod, "efs-claim", expand(LOGIN, "home/{safe_username}")) == [
        "the fixer prepares home/1abc, the notebook mounts home/x-1abc---57cb980e",
        "the first init container is home-restore ['/efs', '1abc'], not the restore",
    ]
    pod["spec"]["containers"][0]["resources"]["limits"]["memory"] = 32 * 1024**3
    assert room_left(pod["spec"], chain.groups["user-small"], chain.daemons)["memory"] < 0


def priority(manifests: list[Manifest], name: str) -> int:
    (priority_class,) = of_kind(manifests, "PriorityClass", name)
    return int(priority_class["value"])


@pytest.mark.parametrize("chain", ["privileged-with-warm-seats"], indirect=True)
def test_each_warm_seat_holds_a_real_server_of_its_profile_and_gives_way_to_any_server(chain: Chain) -> None:
    """Per profile with seats: the pause pods request what KubeSpawner's server of that profile requests, land
    on the same groups, go through the same scheduler, and rank below every server (evicted first)."""

    # Standing seats are StatefulSets by profile; the workshop's seats, the tutorial's Job.
    def placeholders(kind: str) -> list[dict]:
        specs = [r.inputs["spec"] for r in chain.plan.of_type(kind)]
        name = "app.kubernetes.io/name"
        return [s for s in specs if s["template"]["metadata"].get("labels", {}).get(name) == "placeholder"]

    sets, jobs = placeholders("kubernetes:apps/v1:StatefulSet"), placeholders("kubernetes:batch/v1:Job")
    seats = {s["template"]["metadata"]["labels"]["dandiarchive.org/profile"]: s for s in sets + jobs}
    counts = {slug: spec.get("replicas", spec.get("parallelism")) for slug, spec in seats.items()}
    assert counts == {"tiny": 1, "base": 2, "workshop": 3, "gpu": 1}
    assert len(jobs) == 1
    for profile in chain.plan.config.hub.profiles:
        spec = seats[profile.slug]["template"]["spec"]
        server = chain.pod(f"{profile.slug}/{profile.images[0]}")["spec"]
        assert requests(spec) == {
            k: v for k, v in requests(server).items() if k in ("cpu", "memory", "ephemeral-storage")
        }
        assert limits(spec).get("nvidia.com/gpu") == limits(server).get("nvidia.com/gpu")
        assert landing_groups(spec, chain.groups) == landing_groups(server, chain.groups) == {profile.node_group}
        assert spec["schedulerName"] == server["schedulerName"]
        assert baseline_violations(spec) == []  # the namespace enforces baseline: a seat breaking it never starts
        assert priority(chain.hub, spec["priorityClassName"]) < priority(chain.hub, server["priorityClassName"])


# Add-ons ------------------------------------------------------------------------------------------------


def discovered_clusters(deployment: Manifest) -> list[str]:
    """Clusters whose ASGs the autoscaler's auto-discovery matches (by the per-cluster tag)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    flags = [a for a in container.get("command", []) + container.get("args", []) if "node-group-auto-discovery" in a]
    return [m for f in flags for m in re.findall(r"k8s\.io/cluster-autoscaler/([\w-]+)(?:,|$)", f) if m != "enabled"]


def asg_clusters(plan: Plan, groups: dict[str, NodeGroup]) -> dict[str, set[str]]:
    """Per user and GPU group, the clusters its ASG is tagged as owned by."""
    tags: dict[str, set[str]] = {}
    for r in plan.of_type("aws:autoscaling/tag:Tag"):
        key = r.inputs["tag"]["key"]
        group = max((g for g in groups if r.name.startswith(f"autoscaler-{g}-")), key=len)
        if re.fullmatch(r"k8s\.io/cluster-autoscaler/[\w-]+", key) and not key.endswith("/enabled"):
            tags.setdefault(group, set()).add(key.rsplit("/", 1)[1])
    return tags


def test_the_autoscaler_discovers_exactly_this_clusters_groups_from_core_nodes(chain: Chain) -> None:
    (deployment,) = of_kind(chain.rendered["autoscaler-release"], "Deployment")
    cluster = chain.plan.config.cluster.name
    assert discovered_clusters(deployment) == [cluster]
    assert asg_clusters(chain.plan, chain.groups) == {group: {cluster} for group in chain.groups}
    spec = deployment["spec"]["template"]["spec"]
    assert landing_groups(spec, chain.groups) == {n for n, g in chain.groups.items() if g.role == "core"}
    (account,) = of_kind(chain.rendered["autoscaler-release"], "ServiceAccount")
    assert spec["serviceAccountName"] == account["metadata"]["name"] == "cluster-autoscaler"
    assert re.fullmatch(
        r"arn:aws:iam::\d{12}:role/.+", account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    )
    (container,) = spec["containers"]
    assert container["image"].rsplit(":", 1)[1].startswith(f"v{chain.plan.config.cluster.kubernetes_version}.")


def test_the_discovery_check_has_teeth(staging: Plan) -> None:
    (deployment,) = of_kind(render(staging.one("kubernetes:helm.sh/v3:Release", "autoscaler-release")), "Deployment")
    broken = copy.deepcopy(deployment)
    (container,) = broken["spec"]["template"]["spec"]["containers"]
    container["command"] = [a.replace("dandihub-staging", "someone-else") for a in container["command"]]
    assert discovered_clusters(broken) == ["someone-else"]


def test_the_device_plugin_runs_on_every_gpu_group_and_nowhere_else(chain: Chain) -> None:
    """The chart's MPS control daemon only runs on nodes labelled for MPS sharing, which no group is."""
    gpu_groups = {n for n, g in chain.groups.items() if "k8s.amazonaws.com/accelerator" in g.labels}
    releases = [r for r in chain.rendered if "nvidia" in r]
    assert bool(releases) == bool(gpu_groups)
    for release in releases:
        landing = {
            name: landing_groups(spec, chain.groups) for name, spec in pod_specs(chain.rendered[release]).items()
        }
        assert landing == {
            "DaemonSet/nvidia-device-plugin": gpu_groups,
            "DaemonSet/nvidia-device-plugin-mps-control-daemon": set(),
        }


# Users' own images ----------------------------------------------------------------------------------------

OWN_IMAGES = r"^docker\.io/dandiarchive/[a-z0-9-]+:[\w.-]+$"


def test_an_unlisted_image_is_accepted_only_when_it_matches_the_pattern(staging: Plan, tmp_path: Path) -> None:
    """KubeSpawner itself validates the user's image against the profile's pattern."""
    profiles = [p.model_dump(by_alias=True, exclude_none=True) for p in staging.config.hub.profiles]
    profiles[0]["otherImages"] = OWN_IMAGES
    plan = plan_with("staging", set_={"hub.profiles": profiles})
    config = load_hub_config(render(plan.one("kubernetes:helm.sh/v3:Release", "hub-release")), tmp_path, "dandihub")
    slug = profiles[0]["slug"]

    def spawn_with(image: str) -> dict[str, Any]:
        form = {"profile": [slug], f"profile-option-{slug}--image--unlisted-choice": [image]}
        return user_pod(config, LOGIN, form, AUTH_STATE)

    pod = spawn_with("docker.io/dandiarchive/my-env:2026.11")
    assert pod["spec"]["containers"][0]["image"] == "docker.io/dandiarchive/my-env:2026.11"
    for refused in ("ghcr.io/someone/miner:latest", "docker.io/dandiarchive/x:1; rm -rf /"):
        with pytest.raises(ValueError, match="failed validation regex"):
            spawn_with(refused)


def test_profiles_offer_no_unlisted_image_unless_configured(plan: Plan) -> None:
    entries = plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]["profileList"]
    assert not [e for e in entries if "unlisted_choice" in e.get("profile_options", {}).get("image", {})]


# Images before they are needed --------------------------------------------------------------------------


def test_each_group_pulls_the_images_of_its_profiles_gpu_nodes_included(chain: Chain) -> None:
    hub = chain.plan.config.hub
    pullers = {r.name.removeprefix("hub-image-puller-"): r.inputs["spec"]["template"]["spec"]
               for r in chain.plan.of_type("kubernetes:apps/v1:DaemonSet")}  # fmt: skip
    wanted = {
        group: {pulled(chain.plan, key) for p in hub.profiles if p.node_group == group for key in p.images}
        for group in {p.node_group for p in hub.profiles}
    }
    assert {group: {c["image"] for c in spec["initContainers"]} for group, spec in pullers.items()} == wanted
    assert {c["imagePullPolicy"] for spec in pullers.values() for c in spec["initContainers"]} == {"IfNotPresent"}
    for group, spec in pullers.items():
        assert landing_groups(spec, chain.groups) == {group}, group
    gpu_groups = [n for n, g in chain.groups.items() if "k8s.amazonaws.com/accelerator" in g.labels]
    for group in gpu_groups:
        assert {c["image"] for c in pullers[group]["initContainers"]} == {pulled(chain.plan, "gpu")}
    assert not [g for g in pullers if chain.groups[g].role == "core"]
