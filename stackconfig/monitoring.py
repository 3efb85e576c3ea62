"""The `dandihub:monitoring` section: metrics and dashboards in the cluster, logs in CloudWatch, and alerts
that do not depend on the cluster."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from stackconfig.types import ConfigModel, distinct_matches

# The retention periods CloudWatch Logs accepts (PutRetentionPolicy, retentionInDays).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


class RulesConfig(ConfigModel):
    """Prometheus alert rules on what users feel first, sent by Alertmanager to the alerts' SNS topic."""

    enabled: bool = Field(True, description="Evaluate the rules and run Alertmanager (needs alerts). Default true.")
    spawn_failures_per_hour: int = Field(3, ge=1, description="Alert on more failed spawns in an hour. Default 3.")
    pending_minutes: int = Field(
        15, ge=5, le=240, description="Alert on a pod Pending this long; above the slowest cold start. Default 15."
    )
    pull_backoff_minutes: int = Field(5, ge=1, le=120, description="Alert on an image pull failing this long.")
    start_window_hours: int = Field(
        6, ge=1, le=168, description="Window of the p90 start time compared with the plan's cold time. Default 6."
    )
    start_min_samples: int = Field(5, ge=1, description="Starts of a profile in the window before it is judged.")
    node_not_ready_minutes: int = Field(5, ge=1, le=60, description="Alert on a node NotReady this long.")
    repeat_hours: int = Field(12, ge=1, le=168, description="Hours before a still-firing alert is sent again.")
    runbook_url: str = Field(
        "https://github.com/dandi/dandihub-infra/blob/main/docs/operations.md",
        pattern=r"^https://",
        description="Where docs/operations.md is published; each alert links to its section there.",
    )


class PrometheusConfig(ConfigModel):
    """Prometheus (prometheus-community chart) with kube-state-metrics and node-exporter, on core nodes."""

    enabled: bool = Field(True, description="Run Prometheus. Default true.")
    chart_version: str = Field("29.27.0", pattern=r"^\d+\.\d+\.\d+$", description="prometheus chart version.")
    retention_days: int = Field(30, ge=1, le=3650, description="Days of metrics kept. Default 30.")
    volume_gib: int = Field(
        20, ge=8, le=1000, description="Encrypted gp3 volume for the metrics, GiB. Default 20 (30 days fit in ~6)."
    )
    rules: RulesConfig = Field(RulesConfig(), description="Alert rules and Alertmanager.")


class GrafanaConfig(ConfigModel):
    """Grafana (grafana chart) behind the hub, for hub admins, with the JupyterHub community dashboards."""

    enabled: bool = Field(True, description="Run Grafana (needs Prometheus). Default true.")
    chart_version: str = Field("10.5.15", pattern=r"^\d+\.\d+\.\d+$", description="grafana chart version.")
    dashboards_commit: str = Field(
        "ef44b4ed0b439734f2acd5dbd81c4f7d3b513f76",
        pattern=r"^[0-9a-f]{40}$",
        description="jupyterhub/grafana-dashboards commit whose dashboards are compiled at Grafana's start.",
    )


class LogsConfig(ConfigModel):
    """Container logs of every pod to CloudWatch Logs, and the retention of the control-plane logs."""

    enabled: bool = Field(True, description="Send container logs to CloudWatch. Default true.")
    retention_days: int = Field(30, description="Days kept, for container and control-plane logs. Default 30.")

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
            raise ValueError(f"{value} is not a CloudWatch Logs retention; allowed: {allowed}")
        return value


class AlertsConfig(ConfigModel):
    """CloudWatch alarms and a budget, mailed through SNS; they work when the cluster does not."""

    enabled: bool = Field(True, description="Create the alarms. Default true.")
    emails: list[str] = Field([], description="Who is told (each confirms the SNS subscription once).")
    hub_down_minutes: int = Field(5, ge=2, le=60, description="Minutes of failed health checks before alarming.")
    home_size_gib: int = Field(2000, ge=1, description="Alarm when the home file system passes this many GiB.")
    at_max_minutes: int = Field(30, ge=5, le=1440, description="Alarm when a user group stays at its max this long.")
    monthly_budget_usd: int = Field(500, ge=1, description="Mail when the month's actual or forecast cost passes this.")
    spot_interruptions_per_hour: int = Field(5, ge=1, description="Alarm on more spot interruptions in an hour.")
    nat_egress_daily_gb: int = Field(
        100,
        ge=1,
        description="Alarm when more than this many GB go through the stack's NAT in a day (traffic to or "
        "from outside the region). Default 100.",
    )

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        return distinct_matches(values, _EMAIL, "e-mail addresses", "e-mail")


class MonitoringConfig(ConfigModel):
    """Seeing and hearing the hub. Each part can be switched off."""

    prometheus: PrometheusConfig = Field(PrometheusConfig(), description="Metrics.")
    grafana: GrafanaConfig = Field(GrafanaConfig(), description="Dashboards.")
    logs: LogsConfig = Field(LogsConfig(), description="Logs.")
    alerts: AlertsConfig = Field(AlertsConfig(), description="Alerts.")
