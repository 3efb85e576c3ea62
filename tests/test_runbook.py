"""The README's and the runbook's commands do what they say: every AWS CLI command names a real operation
with real parameters (botocore's models, which the AWS CLI is generated from), and the hub's AZ-loss
recovery re-creates the chart's own claim without its binding (run with jq on the chart's rendered claim)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import botocore.session
import pytest
from botocore import xform_name

from offline.engine import Plan
from tests.charts import of_kind, render
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", ROOT / "docs" / "operations.md"]
# Options of the CLI itself, not of an operation.
GLOBAL_OPTIONS = {"region", "query", "output", "profile", "no-cli-pager"}
# AWS CLI customizations: commands the CLI adds on top of the API (documented in the CLI reference).
CUSTOMIZATIONS = {("eks", "update-kubeconfig"), ("eks", "get-token")}
# `aws s3 cp/ls/rb/...` are the CLI's own high-level file commands (awscli/customizations/s3); the API is s3api.
HIGH_LEVEL_S3 = {"cp", "ls", "rb", "mb", "mv", "rm", "sync", "presign", "website"}
# Parameters the CLI renames (aws/aws-cli awscli/customizations/argrename.py, ARGUMENT_RENAMES).
RENAMED = {("sns", "subscribe", "notification-endpoint"): "endpoint"}
COMMAND = re.compile(r"\baws ([a-z0-9-]+) ([a-z0-9-]+)([^`\n]*)")


def _commands() -> list[tuple[str, str, str, str]]:
    return [
        (doc.name, service, operation, rest)
        for doc in DOCS
        for service, operation, rest in COMMAND.findall(doc.read_text())
    ]


def test_the_docs_have_aws_commands_to_check() -> None:
    assert len(_commands()) >= 20


@pytest.mark.parametrize(("doc", "service", "operation", "rest"), _commands())
def test_every_aws_command_is_a_real_operation_with_real_parameters(
    doc: str, service: str, operation: str, rest: str
) -> None:
    if (service, operation) in CUSTOMIZATIONS or (service == "s3" and operation in HIGH_LEVEL_S3):
        return
    session = botocore.session.get_session()
    model = session.get_service_model(service)
    if operation == "wait":  # `aws <service> wait <waiter>`: the waiter, then its operation's parameters
        waiters = {xform_name(w, "-"): w for w in session.get_waiter_model(service).waiter_names}
        waiter = rest.split()[0]
        assert waiter in waiters, f"{doc}: aws {service} wait {waiter} is not a waiter of {service}"
        operation = xform_name(session.get_waiter_model(service).get_waiter(waiters[waiter]).operation, "-")
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in operations, f"{doc}: aws {service} {operation} is not an operation of {service}"
    members = {m.lower() for m in model.operation_model(operations[operation]).input_shape.members}
    flags = [RENAMED.get((service, operation, f), f) for f in re.findall(r"--([a-z0-9-]+)", rest)]
    unknown = [f for f in flags if f not in GLOBAL_OPTIONS and f.replace("-", "") not in members]
    assert unknown == [], f"{doc}: aws {service} {operation} has no parameter {unknown}"


def _recovery_filter() -> str:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    (line,) = [x for x in runbook.splitlines() if "get pvc hub-db-dir -o json | jq" in x]
    return line.split("jq '", 1)[1].rsplit("'", 1)[0]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (.ci/run installs it)")
def test_the_az_loss_recovery_recreates_the_charts_claim_unbound(staging: Plan) -> None:
    """The claim as the API server returns it once bound in the lost AZ, through the runbook's own jq
    filter: what is applied again is the chart's claim with Helm's ownership, bound to nothing."""
    (claim,) = of_kind(render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release")), "PersistentVolumeClaim")
    helm = {"meta.helm.sh/release-name": "jupyterhub", "meta.helm.sh/release-namespace": "dandihub"}
    bound = json.loads(json.dumps(claim))
    bound["metadata"].update(
        uid="0b6f...", resourceVersion="4711", creationTimestamp="2027-01-01T00:00:00Z",
        finalizers=["kubernetes.io/pvc-protection"],
        annotations={
            **claim["metadata"].get("annotations", {}), **helm,
            "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/selected-node": "ip-10-20-1-5.us-east-2.compute.internal",
            "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
            "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
        },
    )  # fmt: skip
    bound["spec"]["volumeName"] = "pvc-0b6f"
    bound["status"] = {"phase": "Bound"}
    result = subprocess.run(
        ["jq", _recovery_filter()], input=json.dumps(bound), capture_output=True, text=True, check=True
    )
    again = json.loads(result.stdout)
    assert again["metadata"]["name"] == "hub-db-dir"
    assert again["metadata"]["annotations"] == {**claim["metadata"].get("annotations", {}), **helm}
    assert again["metadata"]["labels"] == claim["metadata"]["labels"]
    assert again["spec"] == claim["spec"]
    assert not {"uid", "resourceVersion", "finalizers", "creationTimestamp"} & set(again["metadata"])
    assert "status" not in again
