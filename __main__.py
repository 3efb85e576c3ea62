"""The DANDI hub, in the order it is built: config, network, cluster, the Docker Hub mirror, storage,
autoscaler, alerts (outside the cluster; Prometheus's alerts go to their topic too), monitoring, home
governance, scratch, hub, exports."""

import pulumi
import pulumi_aws as aws

from components.alert_rules import modelled_cold_seconds
from components.alerts import Alerts, AlertsArgs
from components.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.cluster import Cluster, ClusterArgs
from components.egress_alarm import NatEgressAlarm, NatEgressAlarmArgs
from components.helm_values import deep_merge
from components.home_governance import HomeGovernance, HomeGovernanceArgs
from components.home_limits import limits_hub_values as home_limits_values
from components.jupyterhub import JupyterHub, JupyterHubArgs
from components.monitoring import AlertRouting, Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.registry_mirror import DockerHubMirror, DockerHubMirrorArgs
from components.scratch import Scratch, ScratchArgs
from components.storage import SharedStorage, SharedStorageArgs
from components.tags import cost_tags
from stackconfig import loader
from stackconfig.access import group_folders

config, secrets = loader.load()
stack = pulumi.get_stack()

tags = cost_tags(config, pulumi.get_project(), stack)
aws_provider = aws.Provider("aws", region=config.region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})

network = Network("network", NetworkArgs(config.network, config.cluster.name, config.region), on_aws)

cluster = Cluster(
    "cluster",
    ClusterArgs(
        config.cluster,
        config.node_groups,
        network.vpc_id,
        network.public_subnet_ids,
        network.private_subnet_ids,
        network.private_subnets,
        config.monitoring.logs.retention_days,
        tags,
    ),
    on_aws,
)
on_cluster = pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.kubernetes_provider})
nodes = list(cluster.node_groups.values())

mirror = None
if config.hub.docker_hub_mirror.enabled:
    assert secrets.docker_hub_access_token is not None  # the config check requires it with the mirror on
    mirror = DockerHubMirror(
        "mirror",
        DockerHubMirrorArgs(
            config.hub.docker_hub_mirror, stack, config.region, secrets.docker_hub_access_token, cluster.node_role
        ),
        on_aws,
    )

storage = SharedStorage(
    "storage",
    SharedStorageArgs(
        config.storage,
        config.cluster.name,
        network.vpc_id,
        network.private_subnets,
        cluster.node_security_group_id,
        cluster.oidc_provider_arn,
        cluster.oidc_issuer,
        config.hub.namespace,
        config.hub.pod_security_level,
        nodes,
        efs_addon_version=config.cluster.addon_versions["aws-efs-csi-driver"],
        group_folders=group_folders(config.hub),
    ),
    on_cluster,
)

autoscaler = ClusterAutoscaler(
    "autoscaler",
    ClusterAutoscalerArgs(
        config.autoscaler,
        config.autoscaler_image_tag,
        config.region,
        config.cluster.name,
        cluster.oidc_provider_arn,
        cluster.oidc_issuer,
        cluster.placed_groups,
        cluster.node_group_asg_names,
    ),
    pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=nodes)),
)

alert_routing: AlertRouting | None = None
if config.monitoring.alerts.enabled:
    alerts = Alerts(
        "alerts",
        AlertsArgs(
            config.monitoring.alerts,
            stack,
            config.region,
            config.cluster.name,
            config.hub.domain,
            storage.file_system_id,
            cluster.placed_groups,
            cluster.node_group_asg_names,
        ),
        on_aws,
    )
    pulumi.export("alertsTopicArn", alerts.topic_arn)
    # Prometheus's alerts reach the same people, through the same topic.
    alert_routing = AlertRouting(alerts.topic_arn, config.region, stack, modelled_cold_seconds(config))
    if config.network.existing is None:
        NatEgressAlarm(
            "egress",
            NatEgressAlarmArgs(
                stack,
                config.monitoring.alerts.nat_egress_daily_gb,
                alerts.topic_arn,
                network.nat_gateway_ids,
                network.nat_instance_id,
            ),
            on_aws,
        )

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        config.monitoring,
        config.hub,
        config.cluster.name,
        cluster.oidc_provider_arn,
        cluster.oidc_issuer,
        nodes,
        cloudwatch_addon_version=config.cluster.addon_versions["amazon-cloudwatch-observability"],
        alerting=alert_routing,
    ),
    on_cluster,
)

homes = HomeGovernance(
    "homes", HomeGovernanceArgs(config, storage.namespace_name, storage.claim_name, storage.layout), on_cluster
)
# The limits on homes live in the hub (its spawner's rule, its Prometheus queries): values, no resources.
limits = home_limits_values(config, mirror.registry if mirror else None)
hub_values = deep_merge(deep_merge(monitoring.hub_values, homes.hub_values), limits)

if config.storage.scratch_bucket.enabled:
    scratch = Scratch(
        "scratch",
        ScratchArgs(
            config.storage.scratch_bucket,
            config.region,
            config.cluster.name,
            config.cluster.addon_versions["eks-pod-identity-agent"],
            storage.namespace_name,
            config.hub.namespace,
            config.production,
            nodes,
        ),
        on_cluster,
    )
    hub_values = deep_merge(hub_values, scratch.hub_values)
    pulumi.export("scratchBucket", scratch.bucket_name)

hub = JupyterHub(
    "hub",
    JupyterHubArgs(
        config.hub,
        stack,
        secrets,
        config.node_groups,
        storage.namespace_name,
        storage.claim_name,
        cluster.hub_db_storage_class,
        depends_on=[storage, cluster.hub_db_storage, *nodes, *([mirror] if mirror else [])],
        extra_values=hub_values,
        first_init_containers=[homes.restore_init_container],
        user_volumes=homes.restore_volumes,
        image_mirror=mirror.registry if mirror else None,
        cost_tags=tags,
    ),
    on_cluster,
)
if config.monitoring.alerts.enabled:
    # Once the hub and its DNS record exist: earlier, the health check fails until DNS points at the hub.
    alerts.watch_hub([hub])

pulumi.export("hubUrl", hub.url)
pulumi.export("loadBalancerHostname", hub.load_balancer_hostname)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("efsFileSystemId", storage.file_system_id)
pulumi.export("kubeconfig", cluster.kubeconfig)
if monitoring.grafana_url:
    pulumi.export("grafanaUrl", monitoring.grafana_url)
