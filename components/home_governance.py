"""Governing the home directories: the usage exporter for the dashboards, the weekly report (with DANDI's
retention policy, off until asked for), the restore step of every user's pod (a returning user's archived
home moved back before the server starts, as the notebook's uid) and the hub's side (a notice on the spawn
page over the soft limit; the hub mounts only the notices, read-only). The code that moves files is
`values/home_moves.py` (the report job is `values/home_governance.py` with `values/hub_users.py`, the hub's side
`values/home_notices.py`); nothing here deletes a user's file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.helm_values import VALUES_DIR
from components.images import PIP, PYTHON
from stackconfig import access
from stackconfig.home_limits import lowest_soft_limit
from stackconfig.hub import HubConfig
from stackconfig.stack import StackConfig

# The report job, its view of the hub, the moves it and the users' pods make, and the hub's side; one
# ConfigMap holds them all, so the job imports its neighbours.
SCRIPT = VALUES_DIR / "home_governance.py"
HUB_USERS_SCRIPT = VALUES_DIR / "hub_users.py"
MOVES_SCRIPT = VALUES_DIR / "home_moves.py"
NOTICES_SCRIPT = VALUES_DIR / "home_notices.py"
SPAWN_TEMPLATE = VALUES_DIR / "templates" / "spawn.html"
# The community's exporter of per-directory size, file count and newest change (the dashboards' source),
# run through values/dirsize_exporter.py so that no home can stall or stop its walk.
EXPORTER = "prometheus-dirsize-exporter==3.2"
EXPORTER_SCRIPT = VALUES_DIR / "dirsize_exporter.py"
EXPORTER_NAME = "home-usage-exporter"
# The report job loads only KubeSpawner's slug module, to name homes as the hub does.
KUBESPAWNER = "jupyterhub-kubespawner==7.0.0"
SERVICE = "home-report"
# Exactly what the report needs from the hub: the users, their last activity, their servers (and each
# server's profile) and their groups.
REPORT_SCOPES = ["list:users", "read:users:name", "read:users:activity", "read:servers", "read:users:groups"]
CORE = {"hub.jupyter.org/node-purpose": "core"}
# Where the hub mounts admin/notices (values/home_notices.py's HUB_NOTICES).
HUB_NOTICES = "/srv/home-notices"
# The notebook's uid and the users' group (values/efs_layout.py gives them the rights the restore needs).
NOTEBOOK_UID, USERS_GID = 1000, 100
# The first init container of every user pod: the restore, and the user's own home actions the hub passes it.
RESTORE_CONTAINER = "home-restore"


@dataclass(frozen=True)
class HomeGovernanceArgs:
    config: StackConfig
    namespace: pulumi.Input[str]
    claim_name: pulumi.Input[str]
    # The file system's directories (components/storage.py): the exporter's read-only sub-path needs home/.
    layout: pulumi.Resource


def policy(config: StackConfig) -> dict[str, Any]:
    """values/home_governance.py's Policy, from config (admins are always exempt)."""
    homes, retention = config.homes, config.homes.retention
    return {
        "soft_limit_gib": homes.soft_limit_gib,
        "largest_above_gib": lowest_soft_limit(config),
        "retention_enabled": retention.enabled,
        "warn_after_days": retention.warn_after_days,
        "archive_after_days": retention.archive_after_days,
        "min_size_gib": retention.min_size_gib,
        "exempt": sorted({*retention.exempt, *config.hub.auth.admin_users}),
        "max_archives_per_run": retention.max_archives_per_run,
        "group_caps": access.group_caps(config.hub),
    }


def _efs(claim: pulumi.Input[str], sub_path: str = "", read_only: bool = False) -> tuple[dict, dict]:
    volume = {"name": "efs", "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}}
    mount = {"name": "efs", "mountPath": "/efs", "readOnly": read_only, **({"subPath": sub_path} if sub_path else {})}
    return volume, mount


class HomeGovernance(pulumi.ComponentResource):
    """The exporter, the report job, and `hub_values` for the hub release."""

    hub_values: dict[str, Any]
    # The first init container of every user pod, and the volumes it needs (components/jupyterhub.py).
    restore_init_container: dict[str, Any]
    restore_volumes: list[dict[str, Any]]

    def __init__(self, name: str, args: HomeGovernanceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:homes:HomeGovernance", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[args.layout])
        config, hub = args.config, args.config.hub
        rules = json.dumps(policy(config), indent=1)
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="home-governance", namespace=args.namespace),
            data={
                **{s.name: s.read_text() for s in (SCRIPT, HUB_USERS_SCRIPT, MOVES_SCRIPT, NOTICES_SCRIPT)},
                "policy.json": rules,
            },
            opts=child,
        )
        token = random.RandomPassword(f"{name}-report-token", length=48, special=False, opts=child)
        k8s.core.v1.Secret(
            f"{name}-report-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="home-report-token", namespace=args.namespace),
            string_data={"token": token.result},
            opts=child,
        )
        self._exporter(name, args, child)
        self._report_job(name, args, hub, child, scripts)
        self.hub_values = self._hub(hub, args.claim_name, token.result)
        self.restore_init_container = restore_init_container(hub)
        self.restore_volumes = [
            {"name": "efs-root", "persistentVolumeClaim": {"claimName": args.claim_name}},
            {"name": "home-governance", "configMap": {"name": "home-governance"}},
        ]
        self.register_outputs({})

    def _exporter(self, name: str, args: HomeGovernanceArgs, opts: pulumi.ResourceOptions) -> None:
        homes = args.config.homes
        volume, mount = _efs(args.claim_name, "home", read_only=True)
        labels = {"app.kubernetes.io/name": EXPORTER_NAME}
        script = k8s.core.v1.ConfigMap(
            f"{name}-exporter-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="home-usage-exporter", namespace=args.namespace),
            data={EXPORTER_SCRIPT.name: EXPORTER_SCRIPT.read_text()},
            opts=opts,
        )
        command = (
            f"{PIP} {EXPORTER} && PYTHONPATH=/tmp/py "
            f"python /opt/home-usage-exporter/{EXPORTER_SCRIPT.name} "
            # The walk's duration too: the hub's limits need when each home's walk began (values/home_limits.py).
            f"/efs {homes.walk_iops} {homes.walk_every_minutes} --port 8000 --enable-detailed-processing-time-metric"
        )
        spec: dict[str, Any] = {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                # The prometheus chart's kubernetes-pods job scrapes annotated pods.
                "metadata": {
                    "labels": labels,
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"},
                },
                "spec": {
                    "nodeSelector": CORE,
                    # Reading every home needs root; the share is mounted read-only.
                    "containers": [
                        {
                            "name": "exporter",
                            "image": PYTHON,
                            "command": ["sh", "-c", command],
                            "env": [{"name": "HOME", "value": "/tmp"}],
                            "ports": [{"name": "metrics", "containerPort": 8000}],
                            "resources": {
                                "requests": {"cpu": "20m", "memory": "64Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "volumeMounts": [
                                mount,
                                {"name": "script", "mountPath": "/opt/home-usage-exporter", "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [volume, {"name": "script", "configMap": {"name": "home-usage-exporter"}}],
                },
            },
        }
        k8s.apps.v1.Deployment(
            f"{name}-exporter",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="home-usage-exporter", namespace=args.namespace, labels=labels),
            # Plain dicts (as the Kubernetes API has them); typed, they would cost mypy minutes.
            spec=cast(Any, spec),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[script])),
        )

    def _report_job(
        self,
        name: str,
        args: HomeGovernanceArgs,
        hub: HubConfig,
        opts: pulumi.ResourceOptions,
        scripts: k8s.core.v1.ConfigMap,
    ) -> None:
        volume, mount = _efs(args.claim_name)
        command = (
            f"{PIP} --no-deps {KUBESPAWNER} && PYTHONPATH=/tmp/py "
            "python /opt/home-governance/home_governance.py /efs /opt/home-governance/policy.json"
        )
        spec: dict[str, Any] = {
            "schedule": args.config.homes.report_schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        # The hub's NetworkPolicy admits pods with this label to its API.
                        "metadata": {"labels": {"hub.jupyter.org/network-access-hub": "true"}},
                        "spec": {
                            "restartPolicy": "Never",
                            "nodeSelector": CORE,
                            "containers": [
                                {
                                    "name": "report",
                                    "image": PYTHON,
                                    "command": ["sh", "-c", command],
                                    "env": [
                                        {"name": "HOME", "value": "/tmp"},
                                        {"name": "HOME_NAMES", "value": hub.home_names},
                                        {
                                            "name": "JUPYTERHUB_API_URL",
                                            "value": f"http://hub.{hub.namespace}.svc:8081/hub/api",
                                        },
                                        {
                                            "name": "JUPYTERHUB_API_TOKEN",
                                            "valueFrom": {
                                                "secretKeyRef": {"name": "home-report-token", "key": "token"}
                                            },
                                        },
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "128Mi"},
                                        "limits": {"memory": "512Mi"},
                                    },
                                    "volumeMounts": [
                                        mount,
                                        {"name": "scripts", "mountPath": "/opt/home-governance", "readOnly": True},
                                    ],
                                }
                            ],
                            "volumes": [volume, {"name": "scripts", "configMap": {"name": "home-governance"}}],
                        },
                    },
                }
            },
        }
        k8s.batch.v1.CronJob(
            f"{name}-report",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="home-report", namespace=args.namespace),
            spec=cast(Any, spec),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[scripts])),
        )  # fmt: skip

    def _hub(self, hub: HubConfig, claim: pulumi.Input[str], token: pulumi.Input[str]) -> dict[str, Any]:
        """The hub mounts only admin/notices (read-only) and the spawn template; its extraConfig gives the spawn
        form's home choices what the report knew of the archives (the limits' part: components/home_limits.py). No
        home is reachable from the hub."""
        return {
            "hub": {
                "services": {SERVICE: {"apiToken": token}},
                # The spawn form's home choices, carried out by this init container (values/home_actions.py).
                "config": {"DandiKubeSpawner": {"home_init_container": RESTORE_CONTAINER}},
                "loadRoles": {SERVICE: {"scopes": REPORT_SCOPES, "services": [SERVICE]}},
                "extraVolumes": [{"name": "notices", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}],
                "extraVolumeMounts": [
                    {"name": "notices", "mountPath": HUB_NOTICES, "subPath": "admin/notices", "readOnly": True}
                ],
                "extraEnv": {"DANDIHUB_HOME_TEMPLATE": hub.home_sub_path},
                "extraFiles": {
                    "spawn-template": {"mountPath": "/usr/local/share/jupyterhub/dandi-templates/spawn.html",
                                       "stringData": SPAWN_TEMPLATE.read_text()},
                },
                "templatePaths": ["/usr/local/share/jupyterhub/dandi-templates"],
                "extraConfig": {"home-governance": NOTICES_SCRIPT.read_text()},
            }
        }  # fmt: skip


def restore_init_container(hub: HubConfig) -> dict[str, Any]:
    """Moves a returning user's newest archive back to home/<home> before any container mounts the home (the
    kubelet makes a sub-path only when the container that mounts it starts: kubernetes/kubernetes
    pkg/kubelet/kubelet_pods.go, makeMounts), or carries out the user's own request from the spawn form,
    which the hub adds to this container's environment (values/home_actions.py). It runs our script,
    not the user's code, as the notebook's uid in the users' group, unprivileged; KubeSpawner expands the
    home's name in its arguments. The whole file system is mounted because a rename cannot cross two mounts
    (rename(2), EXDEV)."""
    home = hub.home_sub_path.split("/", 1)[1]  # home/{safe_username} -> {safe_username}
    return {
        "name": RESTORE_CONTAINER,
        "image": PYTHON,
        "command": ["python", f"/opt/home-governance/{MOVES_SCRIPT.name}", "restore", "/efs", home],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "securityContext": {
            "runAsUser": NOTEBOOK_UID,
            "runAsGroup": USERS_GID,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "volumeMounts": [
            {"name": "efs-root", "mountPath": "/efs"},
            {"name": "home-governance", "mountPath": "/opt/home-governance", "readOnly": True},
        ],
    }
