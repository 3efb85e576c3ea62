"""Per-user cloud scratch: the bucket expires, encrypts and refuses public access; each user server's
credentials reach only its own prefix. The policies are the ones the program records, evaluated by a real
IAM policy evaluator offline (@cloud-copilot/iam-simulate, pinned in tests/iam/package.json) with the session
tags EKS Pod Identity puts on a pod's credentials; the prefix in each server's SCRATCH_BUCKET is checked to
be its pod's name, as the real KubeSpawner builds both."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.scratch import USER_SERVER_ACCOUNT
from offline import core_pods
from offline.engine import Plan
from tests.charts import render
from tests.conftest import ROOT, plan_with
from tests.hub_chain import load_hub_config, user_pod
from tests.pod_user import pod_env

EVALUATOR = ROOT / "tests" / "iam"
ACCOUNT = "123456789012"
ALICE, BOB = "jupyter-alice", "jupyter-bob"


def evaluate(simulations: list[dict[str, Any]]) -> list[str]:
    """Each simulation's decision from the real evaluator (Allowed, ImplicitlyDenied, ExplicitlyDenied)."""
    if not (EVALUATOR / "node_modules").is_dir():
        pytest.skip("the IAM evaluator is not installed: `npm ci --prefix tests/iam` (.ci/run does it)")
    done = subprocess.run(
        ["node", str(EVALUATOR / "evaluate.mjs")], input=json.dumps(simulations), capture_output=True, text=True,
        timeout=60, cwd=EVALUATOR,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r for r in results if "error" in r] == [], "the evaluator could not read a request or policy"
    return [r["decision"] for r in results]


def server_request(
    policies: dict[str, Any], pod: str, action: str, resource: str, secure: bool = True, **context: str
) -> dict[str, Any]:
    """A request from a user server's Pod Identity session: its tags and the bucket's own policy."""
    tags = {
        "aws:PrincipalTag/eks-cluster-name": "dandihub-staging",
        "aws:PrincipalTag/kubernetes-namespace": "dandihub",
        "aws:PrincipalTag/kubernetes-service-account": USER_SERVER_ACCOUNT,
        "aws:PrincipalTag/kubernetes-pod-name": pod,
    }
    return {
        "request": {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/scratch-user-servers/eks-dandihub-s-{pod}",
            "action": action,
            "resource": {"resource": resource, "accountId": ACCOUNT},
            "contextVariables": {**tags, "aws:SecureTransport": str(secure).lower(), **context},
        },
        "identityPolicies": [{"name": "own-prefix", "policy": policies["server"]}],
        "resourcePolicy": policies["bucket"],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }


@pytest.fixture(scope="module")
def policies(staging: Plan) -> dict[str, Any]:
    """The recorded role policy and bucket policy, and the bucket's name (the stack's export)."""
    return {
        "server": json.loads(staging.one("aws:iam/rolePolicy:RolePolicy", "scratch-own-prefix").inputs["policy"]),
        "bucket": json.loads(staging.one("aws:s3/bucketPolicy:BucketPolicy", "scratch-tls-only").inputs["policy"]),
        "name": staging.outputs["scratchBucket"],
    }


# Each case: (pod, action, resource under the bucket, context) -> the decision it must get.
def cases(bucket: str) -> dict[str, tuple[str, str, str, dict[str, str], str]]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "A reads its own file": (ALICE, "s3:GetObject", f"{arn}/{ALICE}/data.nwb", {}, "Allowed"),
        "A writes its own file": (ALICE, "s3:PutObject", f"{arn}/{ALICE}/out/result.zarr", {}, "Allowed"),
        "A deletes its own file": (ALICE, "s3:DeleteObject", f"{arn}/{ALICE}/data.nwb", {}, "Allowed"),
        "A lists its own prefix": (ALICE, "s3:ListBucket", arn, {"s3:prefix": f"{ALICE}/"}, "Allowed"),
        "A lists inside its prefix": (ALICE, "s3:ListBucket", arn, {"s3:prefix": f"{ALICE}/out/"}, "Allowed"),
        "A reads B's file": (ALICE, "s3:GetObject", f"{arn}/{BOB}/data.nwb", {}, "ImplicitlyDenied"),
        "A writes into B's prefix": (ALICE, "s3:PutObject", f"{arn}/{BOB}/x", {}, "ImplicitlyDenied"),
        "A deletes B's file": (ALICE, "s3:DeleteObject", f"{arn}/{BOB}/data.nwb", {}, "ImplicitlyDenied"),
        "A lists B's prefix": (ALICE, "s3:ListBucket", arn, {"s3:prefix": f"{BOB}/"}, "ImplicitlyDenied"),
        "A lists the whole bucket": (ALICE, "s3:ListBucket", arn, {"s3:prefix": ""}, "ImplicitlyDenied"),
        "A lists without a prefix": (ALICE, "s3:ListBucket", arn, {}, "ImplicitlyDenied"),
        "A lists every name starting like its own": (ALICE, "s3:ListBucket", arn, {"s3:prefix": ALICE},
                                                     "ImplicitlyDenied"),
        "A writes to the bucket's top": (ALICE, "s3:PutObject", f"{arn}/loose.txt", {}, "ImplicitlyDenied"),
        "A reaches alice-2's prefix": (ALICE, "s3:GetObject", f"{arn}/{ALICE}-2/data.nwb", {}, "ImplicitlyDenied"),
        "A changes the bucket policy": (ALICE, "s3:PutBucketPolicy", arn, {}, "ImplicitlyDenied"),
        "B reads its own file": (BOB, "s3:GetObject", f"{arn}/{BOB}/data.nwb", {}, "Allowed"),
        "B reads A's file": (BOB, "s3:GetObject", f"{arn}/{ALICE}/data.nwb", {}, "ImplicitlyDenied"),
    }  # fmt: skip


def test_each_server_reaches_its_own_prefix_and_nothing_else(policies: dict[str, Any]) -> None:
    table = cases(policies["name"])
    requests = [
        server_request(policies, pod, action, resource, **ctx) for pod, action, resource, ctx, _ in table.values()
    ]
    found = dict(zip(table, evaluate(requests), strict=True))
    assert found == {what: case[-1] for what, case in table.items()}


def test_each_server_reads_the_dandi_archive_with_its_credentials_and_writes_nothing_there(
    policies: dict[str, Any],
) -> None:
    """Signed reads of the archive's bucket (what s3fs, boto3 and the AWS CLI send once a server has
    credentials): the role's half of a cross-account read. The archive's own bucket policy, the other half,
    is DANDI's (public read) and not evaluated here."""
    archive = "arn:aws:s3:::dandiarchive"
    table = {
        "reads a blob": ("s3:GetObject", f"{archive}/blobs/0a1/b2c/0a1b2c", {}, "Allowed"),
        "lists the bucket": ("s3:ListBucket", archive, {"s3:prefix": "dandisets/"}, "Allowed"),
        "writes a blob": ("s3:PutObject", f"{archive}/blobs/x", {}, "ImplicitlyDenied"),
        "deletes a blob": ("s3:DeleteObject", f"{archive}/blobs/x", {}, "ImplicitlyDenied"),
        "reads another bucket": ("s3:GetObject", "arn:aws:s3:::someone-elses/x", {}, "ImplicitlyDenied"),
    }
    requests = [server_request(policies, ALICE, action, arn, **ctx) for action, arn, ctx, _ in table.values()]
    assert dict(zip(table, evaluate(requests), strict=True)) == {what: case[-1] for what, case in table.items()}


def test_plain_http_is_refused_even_on_the_own_prefix(policies: dict[str, Any]) -> None:
    arn = f"arn:aws:s3:::{policies['name']}/{ALICE}/data.nwb"
    assert evaluate([server_request(policies, ALICE, "s3:GetObject", arn, secure=False)]) == ["ExplicitlyDenied"]


def test_the_evaluation_has_teeth(policies: dict[str, Any]) -> None:
    """A policy granting the bucket without the pod-name variable lets A read B's file and list everything."""
    loose = json.loads(json.dumps(policies["server"]).replace("/${aws:PrincipalTag/kubernetes-pod-name}", ""))
    loose["Statement"][1].pop("Condition")
    arn = f"arn:aws:s3:::{policies['name']}"
    found = evaluate([
        server_request({**policies, "server": loose}, ALICE, "s3:GetObject", f"{arn}/{BOB}/data.nwb"),
        server_request({**policies, "server": loose}, ALICE, "s3:ListBucket", arn, **{"s3:prefix": ""}),
    ])  # fmt: skip
    assert found == ["Allowed", "Allowed"]


def test_the_bucket_expires_encrypts_refuses_public_access_and_outlives_the_stack(plan: Plan) -> None:
    days = plan.config.storage.scratch_bucket.expire_after_days
    bucket = plan.one("aws:s3/bucket:Bucket", "scratch-bucket")
    assert bucket.retain_on_delete and bucket.protect == plan.config.production
    (rule,) = plan.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert rule["status"] == "Enabled" and rule["expiration"] == {"days": days} and rule["filter"] == {"prefix": ""}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    (encryption,) = plan.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert encryption["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    ownership = plan.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_expiry_follows_each_stacks_config(staging: Plan, prod: Plan) -> None:
    for plan, days in ((staging, 14), (prod, 30)):
        (rule,) = plan.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
        assert rule["expiration"] == {"days": days}


def test_the_bucket_can_be_turned_off() -> None:
    off = plan_with("staging", set_={"storage.scratchBucket": {"enabled": False}})
    assert off.of_type("aws:s3/bucket:Bucket") == [] and "scratchBucket" not in off.outputs
    values = off.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]
    assert "SCRATCH_BUCKET" not in values["extraEnv"] and "serviceAccountName" not in values
    # Nor the Pod Identity agent, which the core-pod count then leaves out of every node.
    assert "eks-pod-identity-agent" not in {a.inputs["addonName"] for a in off.of_type("aws:eks/addon:Addon")}
    assert "eks-pod-identity-agent" not in {w.name for w in core_pods.eks_workloads(off)}


def test_only_the_user_servers_account_gets_the_role(staging: Plan) -> None:
    trust = json.loads(staging.one("aws:iam/role:Role", "scratch-user-servers").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == USER_SERVER_ACCOUNT
    association = staging.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("dandihub", USER_SERVER_ACCOUNT)
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-namespace"] == association["namespace"]
    assert (
        staging.one("aws:eks/addon:Addon", "scratch-pod-identity-agent").inputs["addonName"] == "eks-pod-identity-agent"
    )


# Logins whose pod names KubeSpawner escapes differently: plain, with upper case, starting with a digit, the
# longest GitHub allows.
LOGINS = ["alice", "Yarikoptic", "1abc", "a" * 39]


def test_each_servers_scratch_prefix_is_its_pod_name(staging: Plan, tmp_path: Path) -> None:
    """The prefix the policy allows is the pod's name (Pod Identity's kubernetes-pod-name tag): the server's
    SCRATCH_BUCKET must name the same, as the real KubeSpawner builds the pod and expands its environment."""
    config = load_hub_config(render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release")), tmp_path, "dandihub")
    for login in LOGINS:
        pod = user_pod(config, login, {"profile": ["base"]})
        assert pod_env(pod)["SCRATCH_BUCKET"] == f"s3://{staging.outputs['scratchBucket']}/{pod['metadata']['name']}/"
        assert pod["spec"]["serviceAccountName"] == USER_SERVER_ACCOUNT
        assert pod["spec"].get("automountServiceAccountToken") is False
