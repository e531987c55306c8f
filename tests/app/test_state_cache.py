"""The app's per-process caches (`views.parts.state`) follow what a result was made from: a rebuilt
checkpoint (same name, new file) gets fresh examples and confusions, and a map's points table follows
the outcomes it is coloured by. Keys are fingerprints and contents, never `id(obj)`: CPython reuses
the id of an object that is gone, so an id key can hand a rebuilt checkpoint the old one's results."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from core.retrieval.dense import DenseRanker
from views.parts import opening, state


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(state, "corpus_key", lambda: ("msmarco", "source"))
    for cached in (state._examples, state._outcomes, state._points):
        cached.clear()
    yield
    for cached in (state._examples, state._outcomes, state._points):
        cached.clear()


class Checkpointed(DenseRanker):
    """An engine as the caches see it: a name and its checkpoint file's fingerprint (`version`)."""

    def __init__(self, name: str, fingerprint: str):
        self.name, self.fingerprint = name, fingerprint


def ranker(name: str, fingerprint: str) -> DenseRanker:
    return Checkpointed(name, fingerprint)


@pytest.mark.parametrize("shown, made_by", [("examples", "example_queries"), ("confusions", "outcomes")])
def test_a_rebuilt_checkpoint_gets_fresh_results(monkeypatch, shown, made_by):
    monkeypatch.setattr(state, made_by, lambda first, second: [first.fingerprint, second.fingerprint])
    first, second = ranker("random", "old"), ranker("hard", "h1")
    assert getattr(state, shown)(first, second) == ["old", "h1"]
    first.fingerprint = "new"  # the same object, so the same id, now stands for a rebuilt file
    assert getattr(state, shown)(first, second) == ["new", "h1"]
    assert getattr(state, shown)(first, second) == ["new", "h1"]  # and is kept from then on


def test_a_map_table_follows_its_outcomes(monkeypatch):
    monkeypatch.setattr(state, "map_points", lambda projection, catalog, confused: dict(confused))
    engine = SimpleNamespace(name="hard", fingerprint="h1", catalog=None)
    emap = SimpleNamespace(projection=SimpleNamespace(key="map-key"))
    assert state.points(engine, emap, {"q1": True}) == {"q1": True}
    assert state.points(engine, emap, {"q1": False}) == {"q1": False}  # as many outcomes, other values


def test_a_checkpoint_opens_once_on_a_worker_thread_and_a_failed_opening_starts_again():
    opening._openings.clear()
    made, threads = [], []

    def make(progress):
        progress(0.5, "half way")
        threads.append(threading.current_thread())
        made.append(1)
        time.sleep(0.2)
        return "engine"

    key = ("hard", "hard/model.pt", 1, "source", "chroma")
    first = opening.opening(key, make)
    assert opening.opening(key, make) is first and first.wait() == "engine" and made == [1]
    assert threads[0] is not threading.current_thread(), "the page only waits (leaving it wastes nothing)"
    assert first.text == "half way"

    def fail(progress):
        raise state.CheckpointError("corrupt")

    broken = ("random", "random/model.pt", 1, "source", "chroma")
    with pytest.raises(state.CheckpointError):
        opening.opening(broken, fail).wait()
    assert opening.opening(broken, make).wait() == "engine", "tried again, not the failure kept"
    rebuilt = ("hard", "hard/model.pt", 2, "source", "chroma")  # a new file of the same name
    opening.opening(rebuilt, make).wait()
    assert key not in opening._openings()[1] and rebuilt in opening._openings()[1]
    opening._openings.clear()
