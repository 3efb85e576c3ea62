"""Shared storage: the EFS file system that holds every home, reachable only from the cluster's nodes,
and the Kubernetes objects that hand it to the hub. The file system outlives `pulumi destroy`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.helm_values import VALUES_DIR
from components.images import PYTHON
from components.irsa import addon_with_role
from stackconfig.access import GroupFolderConfig
from stackconfig.storage import StorageConfig

EFS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
EFS_CSI_DRIVER = "efs.csi.aws.com"
STORAGE_CLASS = "efs-sc"
PERSISTENT_VOLUME = "efs-pv"
CLAIM = "efs-claim"
# EFS grows as needed; Kubernetes still wants a number on the volume and the claim.
NOMINAL_SIZE = "5Gi"
# The top-level directories, owners and modes (home/, archive/, admin/, groups/, shared/, readonly/).
LAYOUT_SCRIPT = VALUES_DIR / "efs_layout.py"
# The group folders the layout makes under groups/, as the script reads them.
FOLDERS_FILE = "group_folders.json"
CORE = {"hub.jupyter.org/node-purpose": "core"}


@dataclass(frozen=True)
class SharedStorageArgs:
    """Where the file system lives, who may mount it, and which namespace gets the claim."""

    config: StorageConfig
    cluster_name: str
    vpc_id: pulumi.Input[str]
    private_subnets: Mapping[str, pulumi.Input[str]]
    node_security_group_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    namespace: str
    pod_security: str
    nodes: Sequence[pulumi.Resource]
    # The EFS CSI add-on's version for the cluster's Kubernetes minor.
    efs_addon_version: str
    # The groups' folders (hub.groups.<group>.folder), made under groups/ by the layout Job.
    group_folders: Mapping[str, GroupFolderConfig] = field(default_factory=dict)


class SharedStorage(pulumi.ComponentResource):
    """EFS with mount targets in every private subnet, the CSI driver, and a static PV/PVC pair."""

    file_system_id: pulumi.Output[str]
    file_system_arn: pulumi.Output[str]
    namespace: k8s.core.v1.Namespace
    namespace_name: pulumi.Output[str]
    claim_name: pulumi.Output[str]
    # Done once the directories exist with their owners: everything that mounts the file system waits on it.
    layout: k8s.batch.v1.Job
    storage_class_name: str = STORAGE_CLASS

    def __init__(self, name: str, args: SharedStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:storage:SharedStorage", name, None, opts)
        efs = args.config.efs
        child = pulumi.ResourceOptions(parent=self)

        # The users' homes: never deleted with the stack, and adopted again by a later stack.
        self.file_system = aws.efs.FileSystem(
            f"{name}-efs",
            encrypted=True,
            kms_key_id=efs.kms_key_arn,
            performance_mode=efs.performance_mode,
            throughput_mode=efs.throughput_mode,
            provisioned_throughput_in_mibps=efs.provisioned_throughput_mibps,
            lifecycle_policies=_lifecycle(efs.transition_to_ia, efs.transition_to_archive),
            tags={"Name": f"{args.cluster_name}-home"},
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, protect=efs.protect, import_=efs.existing_file_system_id
            ),
        )
        aws.efs.BackupPolicy(
            f"{name}-efs-backup",
            file_system_id=self.file_system.id,
            backup_policy=aws.efs.BackupPolicyBackupPolicyArgs(status="ENABLED" if efs.backups else "DISABLED"),
            opts=child,
        )
        nfs = aws.ec2.SecurityGroup(
            f"{name}-nfs",
            description=f"NFS to the {args.cluster_name} home file system, from its nodes only",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=2049,
                    to_port=2049,
                    security_groups=[args.node_security_group_id],
                    description="NFS from cluster nodes",
                )
            ],
            tags={"Name": f"{args.cluster_name}-nfs"},
            opts=child,
        )
        mount_targets = [
            aws.efs.MountTarget(
                f"{name}-mount-{key}",
                file_system_id=self.file_system.id,
                subnet_id=subnet_id,
                security_groups=[nfs.id],
                opts=child,
            )
            for key, subnet_id in args.private_subnets.items()
        ]
        driver = addon_with_role(
            f"{name}-efs-csi",
            cluster_name=args.cluster_name,
            addon_name="aws-efs-csi-driver",
            addon_version=args.efs_addon_version,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            service_accounts=["efs-csi-controller-sa", "efs-csi-node-sa"],
            policy_arn=EFS_CSI_POLICY,
            nodes=args.nodes,
            parent=self,
        )
        self._kubernetes_objects(name, args, mount_targets, driver)
        self.file_system_id = self.file_system.id
        self.file_system_arn = self.file_system.arn
        self.register_outputs(
            {
                "file_system_id": self.file_system_id,
                "file_system_arn": self.file_system_arn,
                "namespace_name": self.namespace_name,
                "claim_name": self.claim_name,
            }
        )

    def _kubernetes_objects(
        self, name: str, args: SharedStorageArgs, mount_targets: list[aws.efs.MountTarget], driver: aws.eks.Addon
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        # The hub's namespace is made here, once, because the claim must live in it. The API server
        # refuses any pod in it that is looser than its Pod Security level.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels={"pod-security.kubernetes.io/enforce": args.pod_security}
            ),
            opts=child,
        )
        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-storage-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS),
            provisioner=EFS_CSI_DRIVER,
            reclaim_policy="Retain",
            opts=child,
        )
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-volume",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PERSISTENT_VOLUME),
            spec=k8s.core.v1.PersistentVolumeSpecArgs(
                capacity={"storage": NOMINAL_SIZE},
                volume_mode="Filesystem",
                access_modes=["ReadWriteMany"],
                persistent_volume_reclaim_policy="Retain",
                storage_class_name=STORAGE_CLASS,
                mount_options=["tls"],
                csi=k8s.core.v1.CSIPersistentVolumeSourceArgs(driver=EFS_CSI_DRIVER, volume_handle=self.file_system.id),
                claim_ref=k8s.core.v1.ObjectReferenceArgs(namespace=args.namespace, name=CLAIM),
            ),
            # Mounting needs a mount target in the node's AZ and the driver on the node.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*mount_targets, driver, storage_class]),
        )
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-claim",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CLAIM, namespace=self.namespace.metadata.name),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteMany"],
                storage_class_name=STORAGE_CLASS,
                volume_name=volume.metadata.name,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": NOMINAL_SIZE}),
            ),
            opts=child,
        )
        self.namespace_name = self.namespace.metadata.name
        self.claim_name = claim.metadata.name
        self.layout = _layout_job(name, self.namespace_name, self.claim_name, args.group_folders, self)
        if args.config.introspection_pod:
            _introspection_pod(name, self.namespace_name, self.claim_name, self, self.layout)


def _lifecycle(
    transition_to_ia: str | None, transition_to_archive: str | None
) -> list[aws.efs.FileSystemLifecyclePolicyArgs]:
    if transition_to_ia is None:
        return []
    policies = [aws.efs.FileSystemLifecyclePolicyArgs(transition_to_ia=transition_to_ia)]
    if transition_to_archive is not None:
        # Untouched files go cheaper still (Archive); homes of people who left end up there.
        policies.append(aws.efs.FileSystemLifecyclePolicyArgs(transition_to_archive=transition_to_archive))
    # A file read from Infrequent Access or Archive is hot again: move it back.
    policies.append(aws.efs.FileSystemLifecyclePolicyArgs(transition_to_primary_storage_class="AFTER_1_ACCESS"))
    return policies


def _layout_job(
    name: str,
    namespace: pulumi.Input[str],
    claim: pulumi.Input[str],
    folders: Mapping[str, GroupFolderConfig],
    parent: pulumi.Resource,
) -> k8s.batch.v1.Job:
    """A Job (root, on a core node) that makes values/efs_layout.py's directories and the group folders; Pulumi
    waits for it to complete. The digest of both is on the pod template, so a changed layout or folder replaces
    the Job and runs again; the Job is named by Pulumi, so the new one can start before the old one is deleted."""
    script = LAYOUT_SCRIPT.read_text()
    folders_json = json.dumps(
        {group: folder.model_dump(by_alias=True) for group, folder in sorted(folders.items())}, sort_keys=True
    )
    scripts = k8s.core.v1.ConfigMap(
        f"{name}-layout-script",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace),
        data={"efs_layout.py": script, FOLDERS_FILE: folders_json},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    digest = hashlib.sha256((script + folders_json).encode()).hexdigest()
    spec: dict[str, Any] = {
        "backoffLimit": 3,
        "template": {
            "metadata": {"annotations": {"dandihub/layout-sha256": digest}},
            "spec": {
                "restartPolicy": "Never",
                "nodeSelector": CORE,
                "containers": [
                    {
                        "name": "layout",
                        "image": PYTHON,
                        # Root: it sets owners. It makes directories and never removes or moves anything.
                        "securityContext": {"runAsUser": 0},
                        "command": ["python", "/opt/layout/efs_layout.py", "/efs", f"/opt/layout/{FOLDERS_FILE}"],
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                        "volumeMounts": [
                            {"name": "efs", "mountPath": "/efs"},
                            {"name": "script", "mountPath": "/opt/layout", "readOnly": True},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "efs", "persistentVolumeClaim": {"claimName": claim}},
                    {"name": "script", "configMap": {"name": scripts.metadata.name}},
                ],
            },
        },
    }
    return k8s.batch.v1.Job(
        f"{name}-layout",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace),
        spec=cast(Any, spec),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _introspection_pod(
    name: str, namespace: pulumi.Input[str], claim: pulumi.Input[str], parent: pulumi.Resource, layout: pulumi.Resource
) -> None:
    """A pod for operators to look at the share: `kubectl exec -it deploy/efs-browser -- sh`, files at /efs."""
    labels = {"app": "efs-browser"}
    k8s.apps.v1.Deployment(
        f"{name}-efs-browser",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="efs-browser", namespace=namespace),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(
                    node_selector={"hub.jupyter.org/node-purpose": "core"},
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="shell",
                            image="public.ecr.aws/docker/library/alpine:3.22",
                            command=["sleep", "infinity"],
                            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="efs", mount_path="/efs")],
                        )
                    ],
                    volumes=[
                        k8s.core.v1.VolumeArgs(
                            name="efs",
                            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=claim),
                        )
                    ],
                ),
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[layout]),
    )
