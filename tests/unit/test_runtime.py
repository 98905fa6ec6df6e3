"""Settling the process at the end of start-up: what start-up built is frozen out of every gc
collection (once per process), young collections are kept short, and threads hand the GIL
back to the event loop sooner."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.runtime import GC_THRESHOLDS, SWITCH_INTERVAL_S, settle_process
from tests.unit.conftest import FakeEngines, make_settings


@pytest.fixture
def unsettled() -> Iterator[None]:
    """A process not settled yet (the next app started in it settles it again)."""
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


def _in_a_generation(obj: object) -> bool:
    """Whether a collection can visit ``obj`` (frozen objects are in none)."""
    return any(found is obj for found in gc.get_objects())


def test_what_start_up_built_is_frozen_out_of_collections(unsettled: None) -> None:
    analyzer = {"pipeline": [{"token": i} for i in range(1000)]}  # lives as long as the process

    settled = settle_process()

    assert settled.first
    # Frozen objects only leave the permanent generation (freed by refcount, here maybe by a
    # thread an earlier test left running), so the count can only have fallen since.
    assert settled.frozen >= gc.get_freeze_count() > 1000
    assert gc.is_tracked(analyzer)  # still an object gc knows of (freed by refcount) ...
    assert not _in_a_generation(analyzer)  # ... but no collection walks it any more


def test_a_second_app_in_the_process_finds_it_settled(unsettled: None) -> None:
    settle_process()
    made_later = [{"request": 1}]

    again = settle_process()

    assert not again.first  # no second full collection, nothing frozen twice
    assert _in_a_generation(made_later)


def test_young_collections_come_smaller_and_threads_hand_the_gil_back_sooner(
    unsettled: None,
) -> None:
    settled = settle_process()

    assert settled.thresholds == gc.get_threshold() == GC_THRESHOLDS == (300, 5, 50)
    assert settled.switch_interval_s == pytest.approx(SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == pytest.approx(0.0005)


def test_the_gateway_settles_the_process_once_started(
    unsettled: None, engines: FakeEngines
) -> None:
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    assert gc.get_freeze_count() == 0

    with TestClient(app):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
