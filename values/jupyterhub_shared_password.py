"""Shared-password login (test stacks only), with the login normalised before anything is decided.

JupyterHub 5.5's SharedPasswordAuthenticator.authenticate (jupyterhub/authenticators/shared.py) checks the
name as typed against `admin_users` and only afterwards does the hub normalise it (lowercase): `Satra` with
the *user* password is not in `admin_users`, gets in, and lands in `satra`'s account. Normalising first
makes `Satra` an admin name that needs the admin password.

This file runs inside the hub as z2jh `hub.extraConfig` (where `c` is the hub's config); its settings stay
in `hub.config.SharedPasswordAuthenticator`, which the subclass reads. It is also importable, for its tests.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator


class NormalisingSharedPasswordAuthenticator(SharedPasswordAuthenticator):
    """SharedPasswordAuthenticator that decides on the name the user will have, not the name as typed."""

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        return await super().authenticate(handler, {**data, "username": self.normalize_username(data["username"])})


if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    c.JupyterHub.authenticator_class = NormalisingSharedPasswordAuthenticator  # type: ignore[name-defined]  # noqa: F821
