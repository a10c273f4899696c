"""A few seconds of the fuzzing campaign (tests/fuzz.py; the long one is `python -m tests.fuzz --n 10000`)."""

from __future__ import annotations

import fuzz


def test_a_short_campaign_finds_no_internal_error_and_no_changed_answer() -> None:
    stats = fuzz.campaign(30, seed=11)
    assert sum(stats.tried.values()) == 30 and len(stats.tried) >= 4
    assert stats.internal == [] and stats.wrong == [] and stats.timeouts == []
    assert set(stats.exits) <= {"0", "2", "5", "10"}
