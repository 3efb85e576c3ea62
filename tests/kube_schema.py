"""Kubernetes objects checked against the OpenAPI schemas of a Kubernetes version (kubernetes-validate,
strict: an unknown field is an error, as the API server's strict field validation makes it)."""

from __future__ import annotations

import functools
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils

# kubernetes-validate reads the kind's schema file and the 1.4 MB `_definitions.json` again for every object it
# checks; the files do not change during a run, so each is read once. The checking is still its own.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)


def validation_errors(objects: list[dict[str, Any]], version: str) -> list[str]:
    """Each object's first schema error, as `Kind/name: message`."""
    errors = []
    for o in objects:
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{o['kind']}/{o['metadata'].get('name')}: {error.message}")
    return errors
