"""The code is ruff-clean and type-checks, as part of the one test command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import MYPY, ROOT


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy(request: pytest.FixtureRequest) -> None:
    # Started when the session began (conftest), so it ran on the second core beside the other tests.
    process = request.config.stash.get(MYPY, None) or subprocess.Popen(
        [sys.executable, "-m", "mypy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
