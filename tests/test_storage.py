"""Shared storage: EFS that is encrypted, retained (protected on prod), mounted in every private subnet,
reachable only from the nodes, and handed to the hub through a static PV/PVC pair."""

from __future__ import annotations

import json

from offline.engine import Plan
from tests.conftest import plan_with


def file_system(plan: Plan):
    return plan.one("aws:efs/fileSystem:FileSystem")


def test_file_system_settings(plan: Plan) -> None:
    inputs = file_system(plan).inputs
    assert inputs["encrypted"] is True
    assert inputs["performanceMode"] == "generalPurpose"
    assert inputs["throughputMode"] == "elastic"
    assert inputs["lifecyclePolicies"] == [
        {"transitionToIa": "AFTER_30_DAYS"},
        {"transitionToArchive": "AFTER_90_DAYS"},
        {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"},
    ]
    assert inputs["tags"] == {"Name": f"dandihub-{plan.stack}-home"}


def test_file_system_survives_destroy_everywhere_and_is_protected_on_prod(staging: Plan, prod: Plan) -> None:
    assert file_system(staging).retain_on_delete and file_system(prod).retain_on_delete
    assert (file_system(staging).protect, file_system(prod).protect) == (False, True)


def test_backups_on_prod_only(staging: Plan, prod: Plan) -> None:
    status = {
        p.stack: p.one("aws:efs/backupPolicy:BackupPolicy").inputs["backupPolicy"]["status"] for p in (staging, prod)
    }
    assert status == {"staging": "DISABLED", "prod": "ENABLED"}


def test_kms_key_from_config() -> None:
    key = "arn:aws:kms:us-east-2:278212569472:key/11111111-2222-3333-4444-555555555555"
    plan = plan_with("staging", set_={"storage.efs.kmsKeyArn": key})
    assert file_system(plan).inputs["kmsKeyId"] == key


def test_one_mount_target_per_private_subnet(plan: Plan) -> None:
    private = {f"subnet-{s.name}" for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    mounts = plan.of_type("aws:efs/mountTarget:MountTarget")
    assert sorted(m.inputs["subnetId"] for m in mounts) == sorted(private)
    assert {m.inputs["fileSystemId"] for m in mounts} == {"fs-storage-efs"}
    assert {tuple(m.inputs["securityGroups"]) for m in mounts} == {("sg-storage-nfs",)}


def test_nfs_is_open_to_the_nodes_only(plan: Plan) -> None:
    group = plan.one("aws:ec2/securityGroup:SecurityGroup", "storage-nfs").inputs
    assert group["ingress"] == [
        {
            "protocol": "tcp",
            "fromPort": 2049,
            "toPort": 2049,
            "description": "NFS from cluster nodes",
            "securityGroups": [f"sg-dandihub-{plan.stack}-node"],
        }
    ]
    assert "egress" not in group
    assert group["vpcId"] == "vpc-network-vpc"


def test_csi_driver_add_on_with_its_own_role(plan: Plan) -> None:
    addon = plan.one("aws:eks/addon:Addon", "storage-efs-csi").inputs
    assert addon["addonName"] == "aws-efs-csi-driver"
    assert addon["clusterName"] == f"dandihub-{plan.stack}"
    role = plan.one("aws:iam/role:Role", "storage-efs-csi-role")
    assert addon["serviceAccountRoleArn"] == f"arn:aws:iam::123456789012:role/{role.name}"
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    subjects = next(v for k, v in condition.items() if k.endswith(":sub"))
    assert subjects == [
        "system:serviceaccount:kube-system:efs-csi-controller-sa",
        "system:serviceaccount:kube-system:efs-csi-node-sa",
    ]
    (attachment,) = plan.children_of(role)
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"


def test_storage_class_volume_and_claim(plan: Plan) -> None:
    sc = plan.one("kubernetes:storage.k8s.io/v1:StorageClass", "storage-storage-class").inputs
    assert (sc["metadata"]["name"], sc["provisioner"]) == ("efs-sc", "efs.csi.aws.com")
    volume = plan.one("kubernetes:core/v1:PersistentVolume").inputs
    spec = volume["spec"]
    assert volume["metadata"]["name"] == "efs-pv"
    assert spec["csi"] == {"driver": "efs.csi.aws.com", "volumeHandle": "fs-storage-efs"}
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["accessModes"] == ["ReadWriteMany"]
    assert spec["storageClassName"] == "efs-sc"
    assert spec["mountOptions"] == ["tls"]
    assert spec["claimRef"] == {"namespace": "dandihub", "name": "efs-claim"}
    claim = plan.one("kubernetes:core/v1:PersistentVolumeClaim").inputs
    assert claim["metadata"] == {"name": "efs-claim", "namespace": "dandihub"}
    assert claim["spec"]["volumeName"] == "efs-pv"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "efs-sc"


def test_volume_waits_for_every_mount_target_and_the_driver(plan: Plan) -> None:
    volume = plan.one("kubernetes:core/v1:PersistentVolume")
    needed = {m.urn for m in plan.of_type("aws:efs/mountTarget:MountTarget")}
    needed.add(plan.one("aws:eks/addon:Addon", "storage-efs-csi").urn)
    assert needed <= set(volume.dependencies)


def test_namespace_has_one_owner_that_the_hub_uses(plan: Plan) -> None:
    namespace = plan.one("kubernetes:core/v1:Namespace", "storage-namespace")
    assert plan.by_urn(namespace.parent).type == "dandihub:storage:SharedStorage"
    assert (
        plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["namespace"]
        == namespace.inputs["metadata"]["name"]
    )


def test_adopting_a_retained_file_system() -> None:
    plan = plan_with("prod", set_={"storage.efs.existingFileSystemId": "fs-0123456789abcdef0"})
    efs = file_system(plan)
    assert efs.import_id == "fs-0123456789abcdef0"
    assert efs.retain_on_delete and efs.protect
    assert plan.outputs["efsFileSystemId"] == "fs-0123456789abcdef0"
    volume = plan.one("kubernetes:core/v1:PersistentVolume").inputs
    assert volume["spec"]["csi"]["volumeHandle"] == "fs-0123456789abcdef0"
    assert {m.inputs["fileSystemId"] for m in plan.of_type("aws:efs/mountTarget:MountTarget")} == {
        "fs-0123456789abcdef0"
    }


def test_a_new_file_system_is_not_imported(plan: Plan) -> None:
    assert file_system(plan).import_id == ""


def test_introspection_pod_is_off_unless_asked(staging: Plan) -> None:
    assert [r.name for r in staging.of_type("kubernetes:apps/v1:Deployment")] == ["homes-exporter"]
    plan = plan_with("staging", set_={"storage.introspectionPod": True})
    deployment = plan.one("kubernetes:apps/v1:Deployment", "storage-efs-browser").inputs
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["namespace"] == "dandihub"
    assert pod["volumes"] == [{"name": "efs", "persistentVolumeClaim": {"claimName": "efs-claim"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "efs", "mountPath": "/efs"}]
