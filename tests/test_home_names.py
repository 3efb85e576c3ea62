"""The home-names command: old (escaped) and new (safe) directory names from KubeSpawner's own code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from offline import home_names


@pytest.mark.parametrize(
    ("login", "old", "new"),
    [
        ("satra", "home/satra", "home/satra"),
        ("jane-doe", "home/jane-2ddoe", "home/jane-doe"),
        ("1abc", "home/1abc", "home/x-1abc---57cb980e"),
        ("Yarikoptic", "home/yarikoptic", "home/yarikoptic"),
    ],
)
def test_old_and_new_names(login: str, old: str, new: str) -> None:
    assert home_names.names(login) == (old, new)


def test_the_command_prints_a_table_and_safe_move_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert home_names.main(["satra", "jane-doe"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "satra\thome/satra\thome/satra\tsame",
        "jane-doe\thome/jane-2ddoe\thome/jane-doe\tmove",
    ]
    assert home_names.main(["--commands", "satra", "1abc"]) == 0
    assert capsys.readouterr().out.splitlines() == ["mv -n -T -- home/1abc home/x-1abc---57cb980e"]


def test_the_move_commands_never_nest_a_home_in_an_existing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as printed (GNU mv) where the new name already exists: both homes stay as they were; where it
    does not, the home moves."""
    for home in ("home/1abc", "home/x-1abc---57cb980e", "home/jane-2ddoe"):
        (tmp_path / home).mkdir(parents=True)
        (tmp_path / home / "notes.txt").write_text(home)
    home_names.main(["--commands", "1abc", "jane-doe"])
    for line in capsys.readouterr().out.splitlines():
        subprocess.run(line, shell=True, cwd=tmp_path, check=False)
    assert (tmp_path / "home/1abc/notes.txt").read_text() == "home/1abc"
    assert sorted(p.name for p in (tmp_path / "home/x-1abc---57cb980e").iterdir()) == ["notes.txt"]
    assert (tmp_path / "home/jane-doe/notes.txt").read_text() == "home/jane-2ddoe"
