"""The README's config reference is the one generated from the model, and every key is described."""

from __future__ import annotations

from offline import config_reference
from tests.conftest import ROOT


def test_readme_config_reference_matches_the_model() -> None:
    readme = (ROOT / "README.md").read_text()
    assert config_reference.render() in readme, "run `python -m offline.config_reference` and update README.md"


def test_every_config_key_is_described() -> None:
    missing = [path for path, _, _, meaning in config_reference.rows() if not meaning]
    assert missing == []


def test_readme_names_the_ci_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python3 -m venv venv && venv/bin/pip install -q -r requirements-dev.txt && venv/bin/python -m pytest"
    assert command in readme and command in ci
