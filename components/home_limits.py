"""The hub's side of the limits on users' homes: the rule values/home_limits.py applies at the spawn form and
at each start, its settings (the limits with their overrides, where to ask Prometheus, the cleanup profile),
its part of the spawn page, and the hub's way to Prometheus's server. The measuring and the report are
components/home_governance.py's."""

from __future__ import annotations

from typing import Any

from components.helm_values import VALUES_DIR
from components.home_governance import EXPORTER_NAME, HUB_NOTICES
from components.monitoring import NAMESPACE as MONITORING
from components.singleuser_values import profile_entry
from stackconfig.home_limits import cleanup_profile, filled
from stackconfig.stack import StackConfig

# The hub's rule for soft and hard limits, and the spawn page's part about them.
LIMITS_SCRIPT = VALUES_DIR / "home_limits.py"
LIMITS_TEMPLATE = VALUES_DIR / "templates" / "home_limits.html"
# Prometheus's server (components/monitoring.py, release `prometheus`): its Service, and its pods and port for
# the hub's egress rule (the prometheus chart's server labels and containerPort).
PROMETHEUS_URL = f"http://prometheus-server.{MONITORING}.svc:9090"
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server"}
PROMETHEUS_PORT = 9090
# Where a server over its soft limit, or a cleanup server, opens (values/singleuser/home_usage.py).
HOME_PAGE = "/dandi/home"


def limits_settings(config: StackConfig, mirror: str | None) -> dict[str, Any]:
    """values/home_limits.py's settings: the limits (overrides filled in with the stack's), where to ask for
    the homes' sizes (None without Prometheus: the limits are off), and the cleanup profile as KubeSpawner takes it."""
    homes = config.homes
    soft, hard = homes.soft_limit_gib, homes.hard_limit_gib
    profile = cleanup_profile(config)
    cleanup = None
    if profile is not None:
        cleanup = profile_entry(profile, config.hub, config.node_groups[profile.node_group], mirror)
        cleanup["kubespawner_override"]["default_url"] = HOME_PAGE
    return {
        "soft_limit_gib": soft,
        "hard_limit_gib": hard,
        "users": {login.lower(): filled(o, soft, hard) for login, o in homes.users.items()},
        "groups": {name: filled(g.home_limits, soft, hard) for name, g in config.hub.groups.items() if g.home_limits},
        "prometheus_url": PROMETHEUS_URL if config.monitoring.prometheus.enabled and cleanup else None,
        # The exporter's series: the chart's kubernetes-pods job labels them with the pod's namespace and labels.
        "selector": {"namespace": config.hub.namespace, "app_kubernetes_io_name": EXPORTER_NAME},
        "walk_every_minutes": homes.walk_every_minutes,
        "cleanup_profile": cleanup,
        "home_page": HOME_PAGE,
        # The weekly report's notices: the largest entries of homes over a soft limit.
        "notices": HUB_NOTICES,
    }


def limits_hub_values(config: StackConfig, mirror: str | None) -> dict[str, Any]:
    """The rule, its settings, its part of the spawn page, and the hub's way to Prometheus's server (the hub's
    NetworkPolicy allows private addresses by default, but a pod address is not one to count on: Kubernetes
    leaves ipBlock rules on pod IPs to the implementation)."""
    return {
        "hub": {
            "extraFiles": {
                "home-limits": {"mountPath": "/usr/local/etc/jupyterhub/home-governance/limits.json",
                                "data": limits_settings(config, mirror)},
                "home-limits-template": {"mountPath": "/usr/local/share/jupyterhub/dandi-templates/home_limits.html",
                                         "stringData": LIMITS_TEMPLATE.read_text()},
            },
            "extraConfig": {"home-limits": LIMITS_SCRIPT.read_text()},
            "networkPolicy": {
                "egress": [
                    {
                        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING}},
                                "podSelector": {"matchLabels": PROMETHEUS_POD}}],
                        "ports": [{"port": PROMETHEUS_PORT, "protocol": "TCP"}],
                    }
                ]
            },
        }
    }  # fmt: skip
