"""Images from a registry we control, pinned: the ECR pull-through cache of Docker Hub and what it needs,
image references by digest (production refuses a mutable one), and the command that resolves tags to
digests, run against a registry API exchange kept in tests/registry/."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from offline import image_digests
from offline.engine import Plan, ProgramError
from offline.fake_cloud import ACCOUNT_ID
from offline.stack_files import FAKE_SECRETS
from stackconfig import aws_catalog
from stackconfig.image_refs import parse, through_mirror
from tests.conftest import ROOT, plan_with

PLACEHOLDER = "sha256:" + "0" * 64


# The cache and what it needs ------------------------------------------------------------------------------


def test_the_cache_rule_logs_in_to_docker_hub_with_a_secret_named_as_ecr_requires(plan: Plan) -> None:
    rule = plan.one("aws:ecr/pullThroughCacheRule:PullThroughCacheRule").inputs
    request = aws_catalog._model("ecr").shape_for("CreatePullThroughCacheRuleRequest")
    # botocore's ecr model: the Docker Hub upstream is registry-1.docker.io; the prefix and the secret's ARN
    # must match its patterns (the secret's name must start with ecr-pullthroughcache/).
    assert "<code>registry-1.docker.io</code>" in request.members["upstreamRegistryUrl"].documentation
    assert rule["upstreamRegistryUrl"] == "registry-1.docker.io"
    assert aws_catalog.pattern("ecr", "PullThroughCacheRuleRepositoryPrefix").fullmatch(rule["ecrRepositoryPrefix"])
    assert rule["ecrRepositoryPrefix"] == f"docker-hub-{plan.stack}", "staging and prod may share an account"
    secret = plan.one("aws:secretsmanager/secret:Secret")
    assert rule["credentialArn"].endswith(f":{secret.name}"), "the secret's ARN (the fake cloud's form)"
    # The ARN Secrets Manager gives a secret: its name and six random characters.
    arn = f"arn:aws:secretsmanager:us-east-2:{ACCOUNT_ID}:secret:{secret.inputs['name']}-AbC123"
    assert aws_catalog.pattern("ecr", "CredentialArn").fullmatch(arn)
    bad = arn.replace("ecr-pullthroughcache/", "dandihub/")
    assert not aws_catalog.pattern("ecr", "CredentialArn").fullmatch(bad), "the pattern has teeth"


def test_the_login_is_a_secret_in_the_form_ecr_reads(plan: Plan) -> None:
    version = plan.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert "secretString" in version.secret_inputs
    login = json.loads(version.inputs["secretString"])
    username = yaml.safe_load((ROOT / f"Pulumi.{plan.stack}.yaml").read_text())["config"]["dandihub:hub"][
        "dockerHubMirror"
    ]["username"]
    # ECR User Guide, "Storing your upstream repository credentials": keys username and accessToken.
    assert login == {"username": username, "accessToken": FAKE_SECRETS["dandihub:dockerHubAccessToken"]}


def test_nodes_may_pull_through_the_cache_and_nothing_more(plan: Plan) -> None:
    policy = plan.one("aws:iam/rolePolicy:RolePolicy", "mirror-node-pull-through").inputs
    assert policy["role"] == "cluster-node-role"
    (statement,) = json.loads(policy["policy"])["Statement"]
    # ECR User Guide, "IAM permissions required to sync an upstream registry": the first pull imports the
    # image and creates its repository; pulling itself is the read-only policy every node has.
    assert statement["Action"] == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    prefix = plan.one("aws:ecr/pullThroughCacheRule:PullThroughCacheRule").inputs["ecrRepositoryPrefix"]
    assert statement["Resource"] == f"arn:aws:ecr:us-east-2:{ACCOUNT_ID}:repository/{prefix}/*"
    attached = {a.inputs["policyArn"] for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly" in attached


def test_cached_repositories_keep_a_few_digests(plan: Plan) -> None:
    template = plan.one("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate").inputs
    assert template["appliedFors"] == ["PULL_THROUGH_CACHE"]
    assert (
        template["prefix"]
        == plan.one("aws:ecr/pullThroughCacheRule:PullThroughCacheRule").inputs["ecrRepositoryPrefix"]
    )
    (rule,) = json.loads(template["lifecyclePolicy"])["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan" and rule["action"] == {"type": "expire"}
    assert rule["selection"]["countNumber"] == plan.config.hub.docker_hub_mirror.kept_digests


def test_with_the_mirror_off_images_come_from_docker_hub_and_no_token_is_asked() -> None:
    secrets = {k: v for k, v in FAKE_SECRETS.items() if k != "dandihub:dockerHubAccessToken"}
    plan = plan_with("staging", secrets, set_={"hub.dockerHubMirror": {"enabled": False}})
    assert plan.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule") == []
    assert plan.of_type("aws:secretsmanager/secret:Secret") == []
    pulled = {c["image"] for r in plan.of_type("kubernetes:apps/v1:DaemonSet")
              for c in r.inputs["spec"]["template"]["spec"]["initContainers"]}  # fmt: skip
    assert pulled == {i.image for i in plan.config.hub.images.values()}


def test_the_mirror_needs_a_user_and_its_token() -> None:
    with pytest.raises(ProgramError, match=r"dandihub:hub.dockerHubMirror: username is required"):
        plan_with("staging", set_={"hub.dockerHubMirror": {"enabled": True}})
    secrets = {k: v for k, v in FAKE_SECRETS.items() if k != "dandihub:dockerHubAccessToken"}
    with pytest.raises(ProgramError, match=r"dandihub:dockerHubAccessToken: missing secret"):
        plan_with("staging", secrets)
    with pytest.raises(ProgramError, match=r"hub.dockerHubMirror.prefix: 'ROOT' is not an ECR repository prefix"):
        plan_with("staging", set_={"hub.dockerHubMirror.prefix": "ROOT"})


# References ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "registry", "repository", "tag"),
    [
        ("dandiarchive/dandihub:latest", "docker.io", "dandiarchive/dandihub", "latest"),
        ("python:3.12-slim", "docker.io", "library/python", "3.12-slim"),
        ("docker.io/jupyter/scipy-notebook", "docker.io", "jupyter/scipy-notebook", None),
        ("public.ecr.aws/docker/library/python:3.12-slim", "public.ecr.aws", "docker/library/python", "3.12-slim"),
        ("localhost:5000/hub:1", "localhost:5000", "hub", "1"),
    ],
)
def test_references_are_read_as_the_runtime_reads_them(
    reference: str, registry: str, repository: str, tag: str | None
) -> None:
    ref = parse(reference)
    assert (ref.registry, ref.repository, ref.tag, ref.pinned) == (registry, repository, tag, False)


def test_only_docker_hub_references_go_through_the_mirror() -> None:
    mirror = f"{ACCOUNT_ID}.dkr.ecr.us-east-2.amazonaws.com/docker-hub-prod"
    pinned = f"dandiarchive/dandihub:latest@{PLACEHOLDER}"
    assert through_mirror(pinned, mirror) == f"{mirror}/dandiarchive/dandihub:latest@{PLACEHOLDER}"
    assert through_mirror("python:3.12", mirror) == f"{mirror}/library/python:3.12"
    assert (
        through_mirror("quay.io/jupyter/base-notebook:2025-01-01", mirror) == "quay.io/jupyter/base-notebook:2025-01-01"
    )
    assert through_mirror(pinned, None) == pinned


def test_production_refuses_a_mutable_image_and_staging_takes_it() -> None:
    mutable = {"hub.images.standard.image": "dandiarchive/dandihub:latest"}
    with pytest.raises(ProgramError, match=r"dandihub:hub.images.standard.image: 'dandiarchive/dandihub:latest' is "
                       r"mutable: production pins images by digest"):  # fmt: skip
        plan_with("prod", set_=mutable)
    assert plan_with("staging", set_=mutable).config.hub.images["standard"].image == "dandiarchive/dandihub:latest"
    with pytest.raises(ProgramError, match=r"'dandiarchive/dandihub:latest@sha256:abc' is not an image reference"):
        plan_with("staging", set_={"hub.images.standard.image": "dandiarchive/dandihub:latest@sha256:abc"})


# The digest command, against a registry ------------------------------------------------------------------

REGISTRY_FILES = Path(__file__).with_name("registry")
REPOSITORY = "dandiarchive/dandihub"


def _body(name: str) -> bytes:
    return (REGISTRY_FILES / name).read_bytes()


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class RecordedRegistry(http.server.BaseHTTPRequestHandler):
    """Docker Hub's side of a pull, from the files in tests/registry/: a 401 with a bearer challenge, the
    token service, then manifests by tag or digest with their Docker-Content-Digest."""

    tags: ClassVar[dict[str, str]] = {"latest": "index-latest.json", "latest-gpu": "manifest-latest-gpu.json"}
    by_digest: ClassVar[dict[str, str]] = {
        _digest(_body(n)): n for n in ("manifest-latest-amd64.json", "manifest-latest-arm64.json")
    }
    token = json.loads(_body("token.json"))["token"]
    wrong_digest_for: ClassVar[set[str]] = set()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            query = urllib.parse.parse_qs(url.query)
            assert query == {"service": ["registry.docker.io"], "scope": [f"repository:{REPOSITORY}:pull"]}
            return self._send(200, _body("token.json"), "application/json")
        match = re.fullmatch(rf"/v2/{REPOSITORY}/manifests/(.+)", url.path)
        name = match and (self.tags.get(match.group(1)) or self.by_digest.get(match.group(1)))
        if not name:
            return self._send(404, b"{}", "application/json")
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            host = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"  # type: ignore[str-bytes-safe]
            challenge = f'Bearer realm="{host}/token",service="registry.docker.io",scope="repository:{REPOSITORY}:pull"'
            return self._send(401, b"{}", "application/json", {"WWW-Authenticate": challenge})
        body = _body(name)
        digest = _digest(body if name not in self.wrong_digest_for else body + b" ")
        self._send(200, body, json.loads(body)["mediaType"], {"Docker-Content-Digest": digest})

    def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Type": kind, "Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordedRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_multi_platform_tag_pins_its_index_and_counts_the_amd64_layers(registry: str) -> None:
    pinned, size = image_digests.resolve("dandiarchive/dandihub:latest", image_digests.Registry(registry))
    assert pinned == f"dandiarchive/dandihub:latest@{_digest(_body('index-latest.json'))}"
    amd64 = json.loads(_body("manifest-latest-amd64.json"))
    assert size == round((amd64["config"]["size"] + sum(x["size"] for x in amd64["layers"])) / 1e9, 2) == 4.09


def test_a_single_platform_tag_pins_its_manifest(registry: str) -> None:
    pinned, size = image_digests.resolve(
        f"dandiarchive/dandihub:latest-gpu@{PLACEHOLDER}", image_digests.Registry(registry)
    )
    assert pinned == f"dandiarchive/dandihub:latest-gpu@{_digest(_body('manifest-latest-gpu.json'))}"
    assert size == 7.83


def test_a_digest_that_is_not_the_bodys_is_refused(registry: str) -> None:
    RecordedRegistry.wrong_digest_for = {"manifest-latest-gpu.json"}
    try:
        with pytest.raises(image_digests.RegistryError, match="is not the body's"):
            image_digests.resolve("dandiarchive/dandihub:latest-gpu", image_digests.Registry(registry))
    finally:
        RecordedRegistry.wrong_digest_for = set()
    with pytest.raises(image_digests.RegistryError, match="HTTP 404"):
        image_digests.resolve("dandiarchive/dandihub:no-such-tag", image_digests.Registry(registry))


def test_write_pins_the_stack_file_and_changes_nothing_else(registry: str, tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    shutil.copy(ROOT / "Pulumi.prod.yaml", stack_file)
    before = stack_file.read_text()
    # latest-matlab is not in the recorded registry: resolve the two that are, as the command would.
    text = before.replace("latest-matlab@", "latest@")
    stack_file.write_text(text)
    resolved = image_digests.update(stack_file, write=True, registries={"docker.io": image_digests.Registry(registry)})
    assert {r.key: r.size_gb for r in resolved} == {"standard": 4.09, "matlab": 4.09, "gpu": 7.83}
    after = stack_file.read_text()
    changed = [(a, b) for a, b in zip(text.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 6 and all(re.match(r"\s+(image|sizeGb): ", b) for _, b in changed)
    images = yaml.safe_load(after)["config"]["dandihub:hub"]["images"]
    assert images["gpu"] == {
        "displayName": "DANDI with CUDA",
        "image": f"dandiarchive/dandihub:latest-gpu@{_digest(_body('manifest-latest-gpu.json'))}",
        "sizeGb": 7.83,
    }
    assert all(parse(i["image"]).pinned and PLACEHOLDER not in i["image"] for i in images.values())
    # A second run finds nothing to change.
    image_digests.update(stack_file, write=True, registries={"docker.io": image_digests.Registry(registry)})
    assert stack_file.read_text() == after


def test_the_workflow_opens_a_pull_request_with_the_digests() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "image-digests.yml").read_text())
    on = workflow.pop(True)
    assert on["schedule"] and "workflow_dispatch" in on
    (job,) = workflow["jobs"].values()
    assert workflow["permissions"] == {} and job["permissions"] == {"contents": "write", "pull-requests": "write"}
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "python -m offline.image_digests --write" in runs
    assert "gh pr create" in runs
    assert runs.index("offline.image_digests") < runs.index("gh pr create")
