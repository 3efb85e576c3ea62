"""A NAT instance: the cheap way out for a stack that can wait a few minutes when it fails (staging).

The AWS-documented setup on Amazon Linux 2023 (VPC user guide, NAT instances): IP forwarding on, masquerade
on the way out, the source/destination check off; its security group admits only the VPC. EC2 recovers
it when its host fails and reboots it when it stops answering, so egress returns without a person.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

# The documented AL2023 NAT setup, run once at first boot.
USER_DATA = """#!/bin/bash
set -euo pipefail
dnf install -y iptables-services
systemctl enable --now iptables
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-nat.conf
sysctl --system
out=$(ip route show default | awk '{print $5}')
iptables -t nat -A POSTROUTING -o "$out" -j MASQUERADE
iptables -F FORWARD
service iptables save
"""
# Amazon Linux 2023 for Graviton: the smallest instance types that can NAT are arm64.
AMI_NAME = "al2023-ami-2023.*-kernel-6.*-arm64"


def nat_instance(
    name: str,
    *,
    vpc: aws.ec2.Vpc,
    vpc_cidr: str,
    subnet: aws.ec2.Subnet,
    instance_type: str,
    region: str | None,
    parent: pulumi.Resource,
) -> aws.ec2.Instance:
    child = pulumi.ResourceOptions(parent=parent)
    ami = aws.ec2.get_ami(
        most_recent=True,
        owners=["amazon"],
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[AMI_NAME]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=["arm64"]),
        ],
        opts=pulumi.InvokeOptions(parent=parent),
    )
    group = aws.ec2.SecurityGroup(
        f"{name}-sg",
        description="NAT instance: forwards traffic from the VPC only",
        vpc_id=vpc.id,
        ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=[vpc_cidr])],
        egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])],
        tags={"Name": f"{name}-sg"},
        opts=child,
    )
    instance = aws.ec2.Instance(
        name,
        ami=ami.id,
        instance_type=instance_type,
        subnet_id=subnet.id,
        vpc_security_group_ids=[group.id],
        associate_public_ip_address=True,
        # It forwards other hosts' packets, so it must accept packets not addressed to itself.
        source_dest_check=False,
        user_data=USER_DATA,
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required"),
        root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(volume_size=8, volume_type="gp3", encrypted=True),
        tags={"Name": name},
        # A new AMI release must not replace a working NAT on the next `up`.
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["ami"]),
    )
    for check, action, what in (
        ("System", "recover", "moves it to healthy hardware"),
        ("Instance", "reboot", "reboots it"),
    ):
        aws.cloudwatch.MetricAlarm(
            f"{name}-{action}",
            alarm_description=f"{name}: EC2 {what} when its {check.lower()} status check fails",
            namespace="AWS/EC2",
            metric_name=f"StatusCheckFailed_{check}",
            dimensions={"InstanceId": instance.id},
            statistic="Maximum",
            period=60,
            evaluation_periods=2,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            alarm_actions=[f"arn:aws:automate:{region}:ec2:{action}"],
            opts=pulumi.ResourceOptions(parent=instance),
        )
    return instance
