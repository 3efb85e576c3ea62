"""The offline plan's preflight: found, missing or wrong-version tools that a real `pulumi up` calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline import preflight


def fake_tool(folder: Path, name: str, prints: str) -> None:
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{prints}'\n")
    script.chmod(0o755)


def test_everything_found(tmp_path: Path) -> None:
    fake_tool(tmp_path, "pulumi", "v3.272.0")
    fake_tool(tmp_path, "aws", "aws-cli/2.31.4 Python/3.13.7 Linux/6.1 exe/x86_64")
    findings = preflight.check(str(tmp_path), python=(3, 11))
    assert [(f.what, f.ok) for f in findings] == [("Python 3.11", True), ("pulumi", True), ("aws", True)]
    assert findings[2].detail.startswith("aws-cli/2.31.4")


def test_missing_and_wrong_versions_are_named(tmp_path: Path) -> None:
    fake_tool(tmp_path, "aws", "aws-cli/1.45.11 Python/3.11.7")
    findings = {f.what: f for f in preflight.check(str(tmp_path), python=(3, 10))}
    assert not findings["Python 3.10"].ok and "needs 3.11 or newer" in findings["Python 3.10"].detail
    assert findings["pulumi"].detail.startswith("missing: install Pulumi CLI 3.x")
    assert findings["aws"].detail == (
        "found 'aws-cli/1.45.11 Python/3.11.7', needs AWS CLI v2 (the kubeconfig calls `aws eks get-token`)"
    )
    text = preflight.render(list(findings.values()))
    assert text.count("MISSING") == 3


def test_the_plan_prints_the_preflight_first(capsys: pytest.CaptureFixture[str]) -> None:
    import plan

    assert plan.main(["staging"]) == 0
    assert capsys.readouterr().out.startswith("Preflight (what a real `pulumi up` calls on this machine):\n")
