"""The one line every Parley error prints: the file, the problem, the fix."""

from __future__ import annotations

from pipeline.errors import ConfigError


def test_an_errors_line_keeps_a_relative_path_as_given() -> None:
    """The one line names the file the user gave: "../inbox" stays "../inbox" (it once became
    "./inbox"), and a problem's own full stop is not doubled."""
    assert str(ConfigError("no such folder", fix="create it", path="../inbox/a..b.wav")) == \
        "../inbox/a..b.wav: no such folder. Fix: create it"
    assert str(ConfigError("the file is empty.", path="x.wav")) == "x.wav: the file is empty."
