"""The app's per-process caches (`views.state`) follow what a result was made from: a rebuilt
checkpoint (same name, new file) gets fresh examples and confusions, and a map's points table follows
the outcomes it is coloured by. Keys are fingerprints and contents, never `id(obj)`: CPython reuses
the id of an object that is gone, so an id key can hand a rebuilt checkpoint the old one's results."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from views import state


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(state, "resolve_source", lambda: "source")
    for cached in (state._examples, state._outcomes, state._points):
        cached.clear()
    yield
    for cached in (state._examples, state._outcomes, state._points):
        cached.clear()


def ranker(name: str, fingerprint: str):
    return SimpleNamespace(name=name, fingerprint=fingerprint)


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
