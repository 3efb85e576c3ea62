"""The home-names command: old (escaped) and new (safe) directory names from KubeSpawner's own code."""

from __future__ import annotations

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
    assert capsys.readouterr().out.splitlines() == ["mv -n -- home/1abc home/x-1abc---57cb980e"]
