"""Pin the hub's images: resolve each configured tag to the digest it points at now, and its compressed size.

    python -m offline.image_digests                   # show what each stack's images resolve to
    python -m offline.image_digests --write           # and write the digests and sizes into the stack files
    python -m offline.image_digests --write prod      # one stack

It asks the registry API itself (the OCI distribution spec, opencontainers/distribution-spec spec.md,
"Pulling manifests"; the bearer-token login a registry asks for in its 401 answer, distribution/distribution
docs/spec/auth/token.md): `GET /v2/<repository>/manifests/<tag>` answers the digest in `Docker-Content-Digest`,
checked here against the SHA-256 of the body. For a multi-platform image the digest pinned is the index's
(the runtime picks its platform), and the size is the linux/amd64 image's layers, compressed, as a node
downloads them. A scheduled workflow (.github/workflows/image-digests.yml) runs it and opens a pull request,
so an image update is a reviewed change (docs/operations.md, Updating an image).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline.stack_files import stacks
from stackconfig.image_refs import DOCKER_HUB, DOCKER_HUB_REGISTRY, parse, with_digest

ROOT = Path(__file__).resolve().parent.parent
# The manifest kinds a pull accepts, multi-platform ones first.
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
INDEXES = {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
PLATFORM = {"os": "linux", "architecture": "amd64"}
TIMEOUT_SECONDS = 30


class RegistryError(RuntimeError):
    pass


@dataclass(frozen=True)
class Resolved:
    key: str
    configured: str
    pinned: str
    size_gb: float


def registry_url(registry: str) -> str:
    """The registry API's base URL (Docker Hub's API is not at docker.io)."""
    return f"https://{DOCKER_HUB_REGISTRY if registry == DOCKER_HUB else registry}"


class Registry:
    """One registry's API, logging in with an anonymous bearer token when it asks for one."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens: dict[str, str] = {}

    def _get(self, url: str, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return answer.read(), {k.lower(): v for k, v in answer.headers.items()}

    def _token(self, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() != "bearer":
            raise RegistryError(f"the registry asks for {scheme} authentication; only bearer tokens are supported")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", None)
        if not realm:
            raise RegistryError(f"the registry's challenge names no realm: {challenge!r}")
        body, _ = self._get(f"{realm}?{urllib.parse.urlencode(fields)}", {})
        answer = json.loads(body)
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise RegistryError(f"the token service at {realm} answered no token")
        return str(token)

    def manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str]:
        """The manifest at `reference` (tag or digest) and its digest, checked against the body."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        headers = {"Accept": ACCEPT}
        if repository in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[repository]}"
        try:
            body, answer = self._get(url, headers)
        except urllib.error.HTTPError as error:
            challenge = error.headers.get("WWW-Authenticate", "")
            if error.code != 401 or repository in self._tokens or not challenge:
                raise RegistryError(f"GET {url}: HTTP {error.code}") from None
            self._tokens[repository] = self._token(challenge)
            return self.manifest(repository, reference)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if answer.get("docker-content-digest", digest) != digest:
            raise RegistryError(
                f"GET {url}: Docker-Content-Digest {answer['docker-content-digest']} is not the body's {digest}"
            )
        return json.loads(body), digest


def compressed_bytes(manifest: dict[str, Any]) -> int:
    """What a node downloads for one image: its config and its layers, as stored (compressed)."""
    return int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in manifest["layers"])


def resolve(reference: str, registry: Registry | None = None) -> tuple[str, float]:
    """The reference pinned to the digest its tag has now, and the image's compressed size in GB."""
    ref = parse(reference)
    if ref.tag is None:
        raise RegistryError(f"{reference!r} has no tag to resolve; write repository:tag")
    api = registry or Registry(registry_url(ref.registry))
    top, digest = api.manifest(ref.repository, ref.tag)
    image = top
    if top.get("mediaType") in INDEXES or "manifests" in top:
        matches = [m for m in top["manifests"] if all(m.get("platform", {}).get(k) == v for k, v in PLATFORM.items())]
        if not matches:
            raise RegistryError(f"{reference}: no {PLATFORM['os']}/{PLATFORM['architecture']} image in its index")
        image, _ = api.manifest(ref.repository, matches[0]["digest"])
    return with_digest(reference, digest), round(compressed_bytes(image) / 1e9, 2)


def stack_file(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"


def configured_images(path: Path) -> dict[str, str]:
    """hub.images as the stack file writes them (key: reference)."""
    config = yaml.safe_load(path.read_text())["config"]
    images = (config.get("dandihub:hub") or {}).get("images") or {}
    return {key: str(entry["image"]) for key, entry in images.items()}


def rewrite(text: str, resolved: list[Resolved]) -> str:
    """The stack file with each image line pinned and the `sizeGb` line after it set (added if missing)."""
    lines = text.splitlines(keepends=True)
    for item in resolved:
        pattern = re.compile(rf"^(\s*)image: {re.escape(item.configured)}\s*$")
        index = next((i for i, line in enumerate(lines) if pattern.match(line)), None)
        if index is None:
            raise RegistryError(f"hub.images.{item.key}: `image: {item.configured}` not found in the stack file")
        indent = pattern.match(lines[index]).group(1)  # type: ignore[union-attr]
        lines[index] = f"{indent}image: {item.pinned}\n"
        size = f"{indent}sizeGb: {item.size_gb:g}\n"
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.startswith(f"{indent}sizeGb:"):
            lines[index + 1] = size
        else:
            lines.insert(index + 1, size)
    return "".join(lines)


def update(path: Path, write: bool, registries: dict[str, Registry] | None = None) -> list[Resolved]:
    """Resolve the stack file's images (through `registries` by registry name, made as needed)."""
    registries = registries if registries is not None else {}
    resolved = []
    for key, configured in configured_images(path).items():
        registry = parse(configured).registry
        api = registries.setdefault(registry, Registry(registry_url(registry)))
        pinned, size = resolve(configured, api)
        resolved.append(Resolved(key, configured, pinned, size))
    if write:
        path.write_text(rewrite(path.read_text(), resolved))
    return resolved


def main(argv: list[str]) -> int:
    write = "--write" in argv
    chosen = [a for a in argv if a != "--write"] or stacks()
    registries: dict[str, Registry] = {}
    for stack in chosen:
        for item in update(stack_file(stack), write, registries):
            changed = "" if item.pinned == item.configured else " (changed)"
            print(f"{stack}: hub.images.{item.key}: {item.pinned}, {item.size_gb:g} GB{changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
