"""An engine answers with exact search as soon as its passages are encoded, builds its Chroma index on
a background thread once the app has been idle for a moment (never while passages are being encoded),
and switches to it when complete; a failed background build leaves exact search answering."""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from core.analysis import results
from core.common.config import ModelConfig
from core.data.msmarco import build_corpus
from core.model.two_tower import TwoTower, save_checkpoint
from core.retrieval import live_index
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.vectors import ChromaIndex
from tests.conftest import tiny_rows
from views.parts.activity import Activity

QUERY = "what is the capital of france"


@pytest.fixture(scope="module")
def checkpoint(glove_vocab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("background")
    model = TwoTower.from_vocab(ModelConfig(hidden=16, out_dim=16, lexical=True), glove_vocab)
    save_checkpoint(folder / "model.pt", model, glove_vocab, {"data": {"query_len": 32, "passage_len": 64}})
    return folder / "model.pt"


@pytest.fixture
def catalog():
    return Catalog(build_corpus(tiny_rows()))


@pytest.fixture
def app():
    """The app's foreground work, quiet after half a second."""
    return Activity(quiet_s=0.5)


def test_exact_search_answers_until_the_background_index_is_complete(
    app, checkpoint, catalog, tmp_path, monkeypatch
):
    engine = DenseRanker("tiny", checkpoint, catalog, tmp_path / "chroma", background=True, foreground=app)
    first = results.search(engine, QUERY, 5)
    assert (
        engine.live.index is None
        and first.path == "exact"
        and engine.index_state.startswith("is being built")
    )
    engine.live.builder.join(60)
    after = results.search(engine, QUERY, 5)
    assert engine.index_state == "ready" and after.path == "chroma"
    assert [h.pid for h in after.hits] == [h.pid for h in first.hits] and after.notice is None
    added = []
    real_add = ChromaIndex.add
    monkeypatch.setattr(
        ChromaIndex,
        "add",
        lambda self, ids, *a, **kw: added.append(len(ids)) or real_add(self, ids, *a, **kw),
    )
    reopened = DenseRanker("tiny", checkpoint, catalog, tmp_path / "chroma", background=True, foreground=app)
    reopened.live.builder.join(60)
    assert not added and reopened.search(QUERY, 5).path == "chroma", "an up-to-date index is reused"


def test_the_build_waits_while_the_app_is_busy(app, checkpoint, catalog, tmp_path):
    with app.working():  # e.g. another checkpoint's passages being encoded
        engine = DenseRanker(
            "tiny", checkpoint, catalog, tmp_path / "chroma", background=True, foreground=app
        )
        time.sleep(1.5)
        assert engine.live.index is None and engine.live.share == 0, "not started while busy"
    started = time.monotonic()
    engine.live.builder.join(60)
    assert engine.live.index is not None and time.monotonic() - started >= 0.4, "started once quiet"


def test_a_failed_background_build_leaves_exact_search_answering(
    app, checkpoint, catalog, tmp_path, monkeypatch
):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(live_index, "ensure_index", broken)
    engine = DenseRanker("tiny", checkpoint, catalog, tmp_path / "chroma", background=True, foreground=app)
    engine.live.builder.join(60)
    assert engine.live.index is None and "disk full" in engine.index_state
    result = results.search(engine, QUERY, 5)
    assert result.path == "exact" and len(result.hits) == 5
    with pytest.raises(OSError):  # without `background`, a failure is the caller's
        DenseRanker("tiny", checkpoint, catalog, tmp_path / "other")


def test_a_repair_made_in_the_background_is_told_by_the_next_search(app, checkpoint, catalog, tmp_path):
    DenseRanker("tiny", checkpoint, catalog, tmp_path / "chroma")
    db = tmp_path / "chroma" / "chroma.sqlite3"
    with open(db, "r+b") as f:  # garbage over the whole database
        f.write(os.urandom(db.stat().st_size))
    engine = DenseRanker("tiny", checkpoint, catalog, tmp_path / "chroma", background=True, foreground=app)
    engine.live.builder.join(60)
    told = results.search(engine, QUERY, 3)
    assert told.notice and "set aside" in told.notice and told.path == "chroma"
    assert results.search(engine, QUERY, 3).notice is None, "told once"


class Recorder:
    """Foreground work that is never busy, counting how often a build waits for it."""

    def __init__(self):
        self.waits = 0

    def working(self):
        return contextlib.nullcontext()

    def wait_quiet(self):
        self.waits += 1


def test_a_background_build_adds_small_chunks_and_yields_before_each(
    checkpoint, catalog, tmp_path, monkeypatch
):
    """A page asked for during a build waits for one small chunk at most, never a whole batch."""
    added = []
    real_add = ChromaIndex.add

    def spy(self, ids, *args, **kwargs):
        step = min(kwargs.get("chunk") or self.max_batch, self.max_batch)
        added.extend(len(ids[s : s + step]) for s in range(0, len(ids), step))
        return real_add(self, ids, *args, **kwargs)

    monkeypatch.setattr(live_index, "BACKGROUND_CHUNK", 5)
    monkeypatch.setattr(ChromaIndex, "add", spy)
    app = Recorder()
    engine = DenseRanker("tiny", checkpoint, catalog, tmp_path / "chroma", background=True, foreground=app)
    engine.live.builder.join(60)
    assert engine.index_state == "ready" and sum(added) == len(catalog)
    assert max(added) <= 5 and app.waits >= len(added), (added, app.waits)
