"""What users feel first, as Prometheus alert rules, and where Alertmanager sends them.

The rules read the hub's own metrics (JupyterHub's spawn histogram) and kube-state-metrics; the slow-start
rule compares each profile's measured start time with the plan's modelled cold start for it
(offline/startup.py), so reality and plan are compared continuously. Each alert has a one-line summary a
person can act on and a link to its section of the runbook (docs/operations.md, 'Prometheus alerts').
Alertmanager sends them, grouped by alert and rate-limited, to the stack's alerts topic in SNS.

Pure functions of config: the Monitoring component puts their results into the prometheus chart's values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from offline import startup
from stackconfig.monitoring import RulesConfig
from stackconfig.profiles import PROFILE_LABEL
from stackconfig.stack import StackConfig

# kube-state-metrics turns a pod label it is allowed to keep into `label_<name with _>` (values/prometheus.yaml).
PROFILE_METRIC_LABEL = "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", PROFILE_LABEL)
START_SECONDS = "dandihub:server_start_seconds"
PULL_FAILURES = '"ErrImagePull|ImagePullBackOff"'
# Every alert's section in docs/operations.md: the heading is the alert's name (tests/test_alert_rules.py).
ALERTS = ("ServerSpawnFailures", "PodPendingTooLong", "ImagePullBackOff", "SlowServerStarts", "HubRestarted",
          "NodeNotReady")  # fmt: skip


def modelled_cold_seconds(config: StackConfig) -> dict[str, float]:
    """The plan's cold start of each profile: its slowest image whose size is known (one call to the model,
    so a better model replaces it here). A profile with no image size has no modelled time, and no rule."""
    cold: dict[str, float] = {}
    for wait in startup.waits(config):
        if wait.cold_seconds is not None:
            cold[wait.profile] = max(cold.get(wait.profile, 0.0), wait.cold_seconds)
    return cold


def runbook_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lowercase, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _alert(
    rules: RulesConfig, stack: str, name: str, expr: str, wait: str | None, summary: str, description: str,
    **labels: str,
) -> dict[str, Any]:  # fmt: skip
    rule: dict[str, Any] = {
        "alert": name,
        "expr": expr,
        "labels": {"severity": "warning", "stack": stack, **labels},
        "annotations": {
            "summary": f"dandihub {stack}: {summary}",
            "description": description,
            "runbook_url": f"{rules.runbook_url}#{runbook_anchor(name)}",
        },
    }
    if wait:
        rule["for"] = wait
    return rule


def recording_rules(hub_namespace: str) -> dict[str, Any]:
    """Each user server's start, pod created to pod Ready, labelled with its profile (the pod label comes from
    the profile's KubeSpawner override). kube-state-metrics 2.20 (the chart's) labels kube_pod_created,
    kube_pod_status_ready_time (experimental, on by default) and kube_pod_labels by namespace, pod and uid:
    kubernetes/kube-state-metrics@4ffeda2ef866b0fef372849825a803296483b336:docs/metrics/workload/pod-metrics.md."""
    pods = f'namespace="{hub_namespace}"'
    return {
        "groups": [
            {
                "name": "dandihub-starts",
                "rules": [
                    {
                        "record": START_SECONDS,
                        "expr": (
                            f"(kube_pod_status_ready_time{{{pods}}} - on (namespace, pod, uid) "
                            f"kube_pod_created{{{pods}}}) * on (namespace, pod, uid) "
                            f"group_left ({PROFILE_METRIC_LABEL}) "
                            f'kube_pod_labels{{{pods}, label_component="singleuser-server"}}'
                        ),
                    }
                ],
            }
        ]
    }


def pending_too_short(rules: RulesConfig, cold_seconds: Mapping[str, float]) -> list[str]:
    """Profiles whose modelled cold start is longer than the Pending alert waits: a user pod is Pending while
    its node boots and its image is pulled, so every cold start of these would alert."""
    return [
        f"monitoring.prometheus.rules.pendingMinutes: {rules.pending_minutes} minutes is shorter than profile "
        f"{profile}'s modelled cold start ({cold:.0f} s); every cold start of it would alert"
        for profile, cold in sorted(cold_seconds.items())
        if cold >= rules.pending_minutes * 60
    ]


def alerting_rules(
    rules: RulesConfig, stack: str, hub_namespace: str, cold_seconds: Mapping[str, float]
) -> dict[str, Any]:
    """The alert rules, in the chart's `serverFiles."alerting_rules.yml"` shape."""
    window = f"{rules.start_window_hours}h"
    users = [
        _alert(
            rules,
            stack,
            "ServerSpawnFailures",
            "sum(increase(jupyterhub_server_spawn_duration_seconds_count"
            f'{{status="failure"}}[1h])) > {rules.spawn_failures_per_hour}',
            None,
            f"more than {rules.spawn_failures_per_hour} servers failed to start in the last hour",
            "Users see an error instead of their server. Read the hub's log for the failed spawns and "
            "`kubectl describe` a failing user pod.",
        ),
        _alert(
            rules,
            stack,
            "PodPendingTooLong",
            'max by (namespace, pod) (kube_pod_status_phase{phase="Pending"}) > 0',
            f"{rules.pending_minutes}m",
            f"pod {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}} has been Pending for over "
            f"{rules.pending_minutes} minutes",
            "A user waits for a server, or a core service is not running. `kubectl describe pod` says why: no "
            "node fits, a group at its maximum, a volume that will not mount.",
        ),
        _alert(
            rules,
            stack,
            "ImagePullBackOff",
            "max by (namespace, pod, container) ("
            f"kube_pod_container_status_waiting_reason{{reason=~{PULL_FAILURES}}} or "
            f"kube_pod_init_container_status_waiting_reason{{reason=~{PULL_FAILURES}}}) > 0",
            f"{rules.pull_backoff_minutes}m",
            "container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} cannot pull its "
            f"image (for {rules.pull_backoff_minutes} minutes)",
            "The image or its tag does not exist, the registry refuses (rate limit), or the node cannot reach it.",
        ),
    ]
    for profile, cold in sorted(cold_seconds.items()):
        starts = f'max_over_time({START_SECONDS}{{{PROFILE_METRIC_LABEL}="{profile}"}}[{window}])'
        users.append(
            _alert(
                rules,
                stack,
                "SlowServerStarts",
                f"quantile(0.9, {starts}) > {cold:.0f} and count({starts}) >= {rules.start_min_samples}",
                None,
                f"profile {profile}: 9 in 10 servers started within {{{{ $value | humanizeDuration }}}} over the "
                f"last {rules.start_window_hours} hours; the plan's cold start is {cold:.0f} s",
                "Starts are slower than a new node, a full image pull and the server's start together should "
                "take: pulls slower than the plan's figures, nodes slow to join, or a volume slow to mount.",
                profile=profile,
                modelled_cold_seconds=f"{cold:.0f}",
            )
        )
    cluster = [
        _alert(
            rules,
            stack,
            "HubRestarted",
            f'increase(kube_pod_container_status_restarts_total{{namespace="{hub_namespace}", container="hub"}}'
            "[15m]) > 0",
            None,
            "the hub's container restarted in the last 15 minutes",
            "Running servers go on, but nobody can log in or start one while the hub is down. Read the log of "
            "the previous container (`kubectl logs --previous`): out of memory, a bad config, the database.",
        ),
        _alert(
            rules,
            stack,
            "NodeNotReady",
            'max by (node) (kube_node_status_condition{condition="Ready", status!="true"}) > 0',
            f"{rules.node_not_ready_minutes}m",
            f"node {{{{ $labels.node }}}} has been NotReady for {rules.node_not_ready_minutes} minutes",
            "The servers on it are unreachable. `kubectl describe node`: the kubelet, the disk, the network; "
            "a lost spot node is replaced by the autoscaler.",
        ),
    ]
    return {"groups": [{"name": "dandihub-users", "rules": users}, {"name": "dandihub-cluster", "rules": cluster}]}


def alertmanager_config(rules: RulesConfig, stack: str, region: str, topic_arn: Any) -> dict[str, Any]:
    """One message per alert per incident: alerts of one name are grouped, a group is sent at most every 10
    minutes while it changes and again every `repeatHours` while it lasts, and once more when it resolves."""
    return {
        "route": {
            "receiver": "alerts-topic",
            "group_by": ["alertname"],
            "group_wait": "1m",
            "group_interval": "10m",
            "repeat_interval": f"{rules.repeat_hours}h",
        },
        "receivers": [
            {
                "name": "alerts-topic",
                "sns_configs": [
                    {
                        "topic_arn": topic_arn,
                        # The role comes from the pod's IRSA token (AWS SDK's default chain); the region is given.
                        "sigv4": {"region": region},
                        # SNS refuses a subject over 100 characters; an alert name is short.
                        "subject": f"dandihub {stack}: {{{{ .Status }}}} {{{{ .CommonLabels.alertname }}}}",
                        "message": (
                            "{{ range .Alerts }}{{ .Status | toUpper }}: {{ .Annotations.summary }}\n"
                            "{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n\n{{ end }}"
                        ),
                        "send_resolved": True,
                    }
                ],
            }
        ],
    }
