"""Seeing the hub from inside the cluster: Prometheus (with kube-state-metrics and node-exporter) scraping the
hub and the autoscaler and alerting on what users feel (components/alert_rules.py) through Alertmanager to
the alerts' SNS topic, Grafana with the JupyterHub community dashboards for hub admins behind the hub's
own domain, and every container's logs in CloudWatch Logs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.alert_rules import alerting_rules, alertmanager_config, pending_too_short, recording_rules
from components.container_logs import container_logs
from components.helm_values import VALUES_DIR, deep_merge, load_values
from components.images import PIP, PYTHON
from components.irsa import service_account_role
from stackconfig.hub import HubConfig
from stackconfig.monitoring import MonitoringConfig

NAMESPACE = "monitoring"
PROMETHEUS_REPO = "https://prometheus-community.github.io/helm-charts"
GRAFANA_REPO = "https://grafana.github.io/helm-charts"
DASHBOARDS_SCRIPT: Path = VALUES_DIR / "grafana_dashboards.py"
# go-jsonnet's Python binding compiles the dashboards at Grafana's start (values/grafana_dashboards.py).
GOJSONNET = "gojsonnet==0.22.0"
GRAFANA_PATH = "/services/grafana"
# The labels the jupyterhub chart gives the hub pod, which the community dashboards select hub metrics by.
HUB_POD_LABELS = {"app": "jupyterhub", "component": "hub"}
GRAFANA_CLIENT_ID = "service-grafana"
# The alertmanager subchart's service account in the release `prometheus` (its fullname helper).
ALERTMANAGER_ACCOUNT = "prometheus-alertmanager"


@dataclass(frozen=True)
class AlertRouting:
    """Where Prometheus's alerts go (the alerts' SNS topic, in the stack's region), for which stack, and the
    plan's modelled cold start of each profile (components/alert_rules.py, `modelled_cold_seconds`)."""

    topic_arn: pulumi.Input[str]
    region: str
    stack: str
    cold_start_seconds: Mapping[str, float]


@dataclass(frozen=True)
class MonitoringArgs:
    """What to watch: the config, the hub it serves, the cluster it runs in and its OIDC provider."""

    config: MonitoringConfig
    hub: HubConfig
    cluster_name: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    nodes: Sequence[pulumi.Resource]
    # The CloudWatch Observability add-on's version for the cluster's Kubernetes minor.
    cloudwatch_addon_version: str
    alerting: AlertRouting | None = None  # None: no alerts topic, so no rules and no Alertmanager


def prometheus_values(
    config: MonitoringConfig, hub: HubConfig, alerting: AlertRouting | None = None, role_arn: Any = None
) -> dict[str, Any]:
    values = deep_merge(
        load_values("prometheus"),
        {
            "server": {
                "retention": f"{config.prometheus.retention_days}d",
                "persistentVolume": {"size": f"{config.prometheus.volume_gib}Gi"},
            },
            # The hub's own metrics, read with a service token that may read metrics and nothing else, and
            # labelled as the community dashboards select them: the hub pod's `app` and `component` labels
            # (the chart's) and its namespace.
            "scrapeConfigs": {
                "jupyterhub": {
                    "enabled": True,
                    "job_name": "jupyterhub",
                    "metrics_path": "/hub/metrics",
                    "authorization": {"credentials_file": "/etc/prometheus/hub-token/token"},
                    "static_configs": [
                        {
                            "targets": [f"hub.{hub.namespace}.svc:8081"],
                            "labels": {"namespace": hub.namespace, **HUB_POD_LABELS},
                        }
                    ],
                }
            },
        },
    )
    rules = config.prometheus.rules
    if alerting is None or not rules.enabled:
        return values
    return deep_merge(
        values,
        {
            "serverFiles": {
                "alerting_rules.yml": alerting_rules(rules, alerting.stack, hub.namespace, alerting.cold_start_seconds),
                "recording_rules.yml": recording_rules(hub.namespace),
            },
            "alertmanager": {
                "enabled": True,
                "serviceAccount": {
                    "name": ALERTMANAGER_ACCOUNT,
                    "annotations": {"eks.amazonaws.com/role-arn": role_arn},
                },
                "config": alertmanager_config(rules, alerting.stack, alerting.region, alerting.topic_arn),
            },
        },
    )


def grafana_values(config: MonitoringConfig, hub: HubConfig) -> dict[str, Any]:
    base = f"https://{hub.domain}"
    return deep_merge(
        load_values("grafana"),
        {
            "grafana.ini": {
                "server": {"root_url": f"{base}{GRAFANA_PATH}/"},
                "auth.generic_oauth": {
                    "client_id": GRAFANA_CLIENT_ID,
                    "auth_url": f"{base}/hub/api/oauth2/authorize",
                    "token_url": f"http://hub.{hub.namespace}.svc:8081/hub/api/oauth2/token",
                    "api_url": f"http://hub.{hub.namespace}.svc:8081/hub/api/user",
                },
            },
            # Grafana keeps its sessions in the pod (no volume): a change of hub admins restarts it, so a
            # removed admin's session ends and the next login goes through the hub, which refuses them.
            "podAnnotations": {"dandiarchive.org/hub-admins": ",".join(sorted(hub.auth.admin_users))},
            "extraInitContainers": [
                {
                    "name": "jupyterhub-dashboards",
                    "image": PYTHON,
                    "command": [
                        "sh",
                        "-c",
                        f"{PIP} {GOJSONNET} && PYTHONPATH=/tmp/py "
                        f"python /opt/dashboards-compiler/grafana_dashboards.py {config.grafana.dashboards_commit} "
                        "/var/lib/grafana/dashboards/jupyterhub",
                    ],
                    "securityContext": {"runAsUser": 472, "runAsGroup": 472, "allowPrivilegeEscalation": False},
                    "env": [{"name": "HOME", "value": "/tmp"}],
                    "volumeMounts": [
                        {"name": "jupyterhub-dashboards", "mountPath": "/var/lib/grafana/dashboards/jupyterhub"},
                        {"name": "dashboards-compiler", "mountPath": "/opt/dashboards-compiler", "readOnly": True},
                    ],
                }
            ],
        },
    )


class Monitoring(pulumi.ComponentResource):
    """Prometheus, Grafana and container logs; `hub_values` is what the hub release must add."""

    namespace_name: pulumi.Output[str]
    grafana_url: str | None
    hub_values: dict[str, Any]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:monitoring:Monitoring", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.grafana_url = None
        self._services: dict[str, dict[str, Any]] = {}
        self._roles: dict[str, dict[str, Any]] = {}
        self._hub_clients: list[dict[str, str]] = []
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE), opts=child
        )
        self.namespace_name = namespace.metadata.name
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        if config.prometheus.enabled:
            self._prometheus(name, args, in_namespace)
        if config.grafana.enabled:
            self._grafana(name, args, in_namespace)
        if config.logs.enabled:
            self._container_logs(name, args)
        self.hub_values = self._hub_values()
        self.register_outputs({"namespace_name": self.namespace_name, "grafana_url": self.grafana_url})

    def _hub_values(self) -> dict[str, Any]:
        """The hub's side: the services and their roles, and network access to the hub's port from the
        monitoring pods that talk to it (the chart's hub NetworkPolicy admits only its own pods)."""
        if not self._services:
            return {}
        peers = [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
                "podSelector": {"matchLabels": labels},
            }
            for labels in self._hub_clients
        ]
        hub: dict[str, Any] = {
            "services": self._services,
            "loadRoles": self._roles,
            "networkPolicy": {"ingress": [{"from": peers, "ports": [{"port": 8081, "protocol": "TCP"}]}]},
        }
        if "prometheus" in self._services:
            # The chart annotates the hub Service for Prometheus's annotation-based job, which scrapes without
            # the token and gets 403 every minute; the `jupyterhub` job above scrapes it with the token.
            hub["service"] = {"annotations": {"prometheus.io/scrape": "false"}}
        return {"hub": hub}

    def _secret(
        self, resource: str, secret: str, data: dict[str, pulumi.Input[str]], opts: pulumi.ResourceOptions
    ) -> None:
        k8s.core.v1.Secret(
            resource,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret, namespace=NAMESPACE),
            string_data=data,
            opts=opts,
        )

    def _release(
        self, resource: str, chart: str, version: str, repo: str, values: dict[str, Any], args: MonitoringArgs,
        opts: pulumi.ResourceOptions,
    ) -> None:  # fmt: skip
        """A pinned chart in the monitoring namespace, installed once nodes can run it."""
        k8s.helm.v3.Release(
            resource,
            name=chart,
            chart=chart,
            version=version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            namespace=NAMESPACE,
            values=values,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(args.nodes))),
        )

    def _token(self, name: str) -> random.RandomPassword:
        # Kept in the (encrypted) state, so it stays the same on every `up`.
        return random.RandomPassword(name, length=48, special=False, opts=pulumi.ResourceOptions(parent=self))

    def _prometheus(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        token = self._token(f"{name}-prometheus-hub-token")
        self._secret(f"{name}-prometheus-hub-token", "prometheus-hub-token", {"token": token.result}, opts)
        alerting = args.alerting is not None and args.config.prometheus.rules.enabled
        role_arn = self._alertmanager_role(name, args) if alerting else None
        if alerting and args.alerting:
            for message in pending_too_short(args.config.prometheus.rules, args.alerting.cold_start_seconds):
                pulumi.log.warn(message, self)
        self._release(
            f"{name}-prometheus", "prometheus", args.config.prometheus.chart_version, PROMETHEUS_REPO,
            prometheus_values(args.config, args.hub, args.alerting, role_arn), args, opts,
        )  # fmt: skip
        self._services["prometheus"] = {"apiToken": token.result}
        # Exactly what scraping needs.
        self._roles["prometheus"] = {"scopes": ["read:metrics"], "services": ["prometheus"]}
        self._hub_clients.append({"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server"})

    def _alertmanager_role(self, name: str, args: MonitoringArgs) -> pulumi.Output[str]:
        """Alertmanager's own identity: it may publish to the alerts topic and do nothing else."""
        assert args.alerting is not None
        policy = aws.iam.Policy(
            f"{name}-alertmanager-publish",
            policy=pulumi.Output.from_input(args.alerting.topic_arn).apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": arn}],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = service_account_role(
            f"{name}-alertmanager",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=NAMESPACE,
            service_accounts=[ALERTMANAGER_ACCOUNT],
            policy_arns={"publish": policy.arn},
            parent=self,
        )
        return role.arn

    def _grafana(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        admin = self._token(f"{name}-grafana-admin")
        client_secret = self._token(f"{name}-grafana-oauth")
        self._secret(
            f"{name}-grafana-admin", "grafana-admin", {"admin-user": "admin", "admin-password": admin.result}, opts
        )
        self._secret(
            f"{name}-grafana-oauth",
            "grafana-jupyterhub-oauth",
            {"GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": client_secret.result},
            opts,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboards-compiler",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="grafana-dashboards-compiler", namespace=NAMESPACE),
            data={"grafana_dashboards.py": DASHBOARDS_SCRIPT.read_text()},
            opts=opts,
        )
        self._release(
            f"{name}-grafana", "grafana", args.config.grafana.chart_version, GRAFANA_REPO,
            grafana_values(args.config, args.hub), args, opts,
        )  # fmt: skip
        self.grafana_url = f"https://{args.hub.domain}{GRAFANA_PATH}/"
        # A JupyterHub service: the proxy routes /services/grafana/ to it, and JupyterHub's OAuth lets in
        # only users with access to the service, which only the admin role has.
        self._services["grafana"] = {
            "url": f"http://grafana.{NAMESPACE}.svc",
            "apiToken": client_secret.result,
            "oauth_client_id": GRAFANA_CLIENT_ID,
            "oauth_redirect_uri": f"{self.grafana_url}login/generic_oauth",
            "oauth_no_confirm": True,
            "display": False,
        }
        # Grafana exchanges the OAuth code and reads the user at the hub's own port.
        self._hub_clients.append({"app.kubernetes.io/name": "grafana"})

    def _container_logs(self, name: str, args: MonitoringArgs) -> None:
        container_logs(
            name,
            cluster_name=args.cluster_name,
            addon_version=args.cloudwatch_addon_version,
            retention_days=args.config.logs.retention_days,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            nodes=args.nodes,
            parent=self,
        )
