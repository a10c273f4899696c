"""The parser and resolver on random and near-valid text: a located error or a parse, never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import CORPUS, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VALID = (CORPUS / "mini.thp").read_text(encoding="utf-8")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = ["{", "}", "(", ")", ";", ":", "@", "..", "->", "==", "!", "&&", "||", "if", "return", "let", "atom",
          "version", "property", "prove", "expect", "holds", "patch", "replace", "\"v\"", "x", "9", "\n"]


def _check(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.thp"
        path.write_text(text, encoding="utf-8")
        code, out, err = run_cli("check", str(path))
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 2, 5, 10), (code, err)
    if code == 2:
        first = err.splitlines()[0]
        assert first.startswith(str(path) + ":") and ": error: " in first, first


@SETTINGS
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    _check(text)


@SETTINGS
@given(st.integers(0, len(VALID) - 1), st.integers(1, 20), st.sampled_from(TOKENS + [""]))
def test_near_valid_text(at: int, length: int, insert: str) -> None:
    _check(VALID[:at] + insert + VALID[at + length:])


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup(tokens: list[str]) -> None:
    _check(" ".join(tokens))
