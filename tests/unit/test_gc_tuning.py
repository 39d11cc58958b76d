"""The serving entry tunes the garbage collector once per process (engine.gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from engine.gc import GEN1_THRESHOLD, GEN2_THRESHOLD, tune_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tuning_freezes_what_exists_and_sets_the_thresholds(restored_gc: None) -> None:
    tune_for_serving(12_345)
    assert gc.get_threshold() == (12_345, GEN1_THRESHOLD, GEN2_THRESHOLD)
    assert gc.get_freeze_count() > 0
    # Cycles are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_zero_leaves_pythons_defaults(restored_gc: None) -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    tune_for_serving(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
