"""Seeing the hub from inside the cluster: Prometheus (with kube-state-metrics and node-exporter) scraping the
hub and the autoscaler, Grafana with the JupyterHub community dashboards for hub admins behind the hub's
own domain, and every container's logs in CloudWatch Logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.helm_values import VALUES_DIR, deep_merge, load_values
from components.images import PIP, PYTHON
from components.irsa import addon_with_role
from stackconfig.hub import HubConfig
from stackconfig.monitoring import MonitoringConfig

NAMESPACE = "monitoring"
PROMETHEUS_REPO = "https://prometheus-community.github.io/helm-charts"
GRAFANA_REPO = "https://grafana.github.io/helm-charts"
DASHBOARDS_SCRIPT: Path = VALUES_DIR / "grafana_dashboards.py"
# go-jsonnet's Python binding compiles the dashboards at Grafana's start (values/grafana_dashboards.py).
GOJSONNET = "gojsonnet==0.22.0"
CLOUDWATCH_AGENT_POLICY = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
# The log groups the CloudWatch Observability add-on writes container logs to; made here, with a retention.
CONTAINER_LOG_GROUPS = ("application", "dataplane", "host")
GRAFANA_PATH = "/services/grafana"
GRAFANA_CLIENT_ID = "service-grafana"


@dataclass(frozen=True)
class MonitoringArgs:
    """What to watch: the config, the hub it serves, the cluster it runs in and its OIDC provider."""

    config: MonitoringConfig
    hub: HubConfig
    cluster_name: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    nodes: Sequence[pulumi.Resource]


def prometheus_values(config: MonitoringConfig, hub: HubConfig) -> dict[str, Any]:
    return deep_merge(
        load_values("prometheus"),
        {
            "server": {
                "retention": f"{config.prometheus.retention_days}d",
                "persistentVolume": {"size": f"{config.prometheus.volume_gib}Gi"},
            },
            # The hub's own metrics, read with a service token that may read metrics and nothing else.
            "scrapeConfigs": {
                "jupyterhub": {
                    "enabled": True,
                    "job_name": "jupyterhub",
                    "metrics_path": "/hub/metrics",
                    "authorization": {"credentials_file": "/etc/prometheus/hub-token/token"},
                    "static_configs": [{"targets": [f"hub.{hub.namespace}.svc:8081"]}],
                }
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
        return {
            "hub": {
                "services": self._services,
                "loadRoles": self._roles,
                "networkPolicy": {"ingress": [{"from": peers, "ports": [{"port": 8081, "protocol": "TCP"}]}]},
            }
        }

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
        self._release(
            f"{name}-prometheus", "prometheus", args.config.prometheus.chart_version, PROMETHEUS_REPO,
            prometheus_values(args.config, args.hub), args, opts,
        )  # fmt: skip
        self._services["prometheus"] = {"apiToken": token.result}
        # Exactly what scraping needs.
        self._roles["prometheus"] = {"scopes": ["read:metrics"], "services": ["prometheus"]}
        self._hub_clients.append({"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server"})

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
        retention = args.config.logs.retention_days
        groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-logs-{kind}",
                name=f"/aws/containerinsights/{args.cluster_name}/{kind}",
                retention_in_days=retention,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for kind in CONTAINER_LOG_GROUPS
        ]
        addon_with_role(
            f"{name}-cloudwatch",
            cluster_name=args.cluster_name,
            addon_name="amazon-cloudwatch-observability",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace="amazon-cloudwatch",
            service_accounts=["cloudwatch-agent"],
            policy_arn=CLOUDWATCH_AGENT_POLICY,
            # Container logs only (Fluent Bit, 50m/25Mi per node); not the CloudWatch agent, whose Container
            # Insights metrics bill per metric (Prometheus has them) and which asks 250m/128Mi of every node.
            # Keys of the add-on's chart (aws-observability/helm-charts, amazon-cloudwatch-observability).
            configuration={"containerLogs": {"enabled": True}, "agent": {"enabled": False}},
            nodes=[*args.nodes, *groups],
            parent=self,
        )
