"""Reliability of the indexes behind the app: a corrupted Chroma database is set aside and rebuilt
(with a notice, on the page too), and opening or building one checkpoint never holds up searches
on a checkpoint that is already open (one lock per checkpoint)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from core.analysis import results
from core.common.cache import KeyedCache
from core.data.corpora import load_corpus
from core.retrieval import live_index
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.index import set_aside_if_corrupt

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = {name: ROOT / "artifacts" / name / "model.pt" for name in ("random", "hard")}
QUERY = "how is coffee made"
pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in CHECKPOINTS.values()),
    reason="needs the committed checkpoints (artifacts/random, artifacts/hard)",
)


@pytest.fixture
def catalog(tiny_jsonl) -> Catalog:
    return Catalog(load_corpus(str(tiny_jsonl)))


def scribble_over(db: Path) -> None:
    """Garbage over the whole database file, in place (open connections see it too)."""
    with open(db, "r+b") as f:
        f.write(os.urandom(db.stat().st_size))


def corrupt_folders(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("chroma.corrupt-"))


def test_a_corrupted_chroma_database_is_set_aside_and_rebuilt_by_the_next_search(catalog, tmp_path):
    chroma = tmp_path / "chroma"
    engine = DenseRanker("hard", CHECKPOINTS["hard"], catalog, chroma_path=chroma)
    other = DenseRanker("random", CHECKPOINTS["random"], catalog, chroma_path=chroma)  # shares the folder
    before = results.search(engine, QUERY, 5)
    assert before.notice is None and engine.live.notice is None
    scribble_over(chroma / "chroma.sqlite3")
    after = results.search(engine, QUERY, 5)
    assert [h.pid for h in after.hits] == [h.pid for h in before.hits], "answered as before"
    assert after.notice and "set aside" in after.notice and "rebuilt" in after.notice
    assert len(corrupt_folders(tmp_path)) == 1 and set_aside_if_corrupt(chroma) is None, "the new one's sound"
    assert results.search(engine, QUERY, 5).notice is None, "the notice belongs to the search that repaired"
    assert results.search(other, QUERY, 5).hits, (
        "the other checkpoint's index is rebuilt in the new folder too"
    )


def test_an_app_restarted_over_a_corrupted_database_repairs_it_while_opening(catalog, tmp_path):
    chroma = tmp_path / "chroma"
    DenseRanker("hard", CHECKPOINTS["hard"], catalog, chroma_path=chroma)
    scribble_over(chroma / "chroma.sqlite3")
    reopened = DenseRanker("hard", CHECKPOINTS["hard"], catalog, chroma_path=chroma)
    assert reopened.live.notice and "rebuilt" in reopened.live.notice and corrupt_folders(tmp_path)
    assert reopened.search(QUERY, 3)


def test_the_search_page_rebuilds_a_corrupted_index_with_a_notice(catalog, tiny_jsonl, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    art = tmp_path / "artifacts"
    for name, path in CHECKPOINTS.items():
        (art / name).mkdir(parents=True)
        (art / name / "model.pt").symlink_to(path)
    monkeypatch.setenv("ARTIFACTS_DIR", str(art))
    monkeypatch.setenv("MSMARCO_SOURCE", str(tiny_jsonl))
    monkeypatch.delenv("CHROMA_HOST", raising=False)

    def search():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params.update({"model": "hard", "q": QUERY, "k": "3"})
        at.switch_page("views/pages/search.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    assert "rebuilt" not in " ".join(i.value for i in search().info)
    from views.parts import opening

    for job in opening._openings()[1].values():  # the app builds indexes in the background: wait for them
        if job.engine is not None and job.engine.live is not None and job.engine.live.builder is not None:
            job.engine.live.builder.join(60)
    scribble_over(art / "chroma" / "chroma.sqlite3")
    at = search()
    assert "rebuilt" in " ".join(i.value for i in at.info) and not at.warning
    assert len([h for h in at.html if 'class="card' in h.value]) == 3


def test_a_slow_build_of_one_checkpoint_never_holds_up_searches_on_an_open_one(
    catalog, tmp_path, monkeypatch
):
    cache = KeyedCache()
    open_one = cache.get(
        ("hard",), lambda: DenseRanker("hard", CHECKPOINTS["hard"], catalog, chroma_path=tmp_path)
    )
    results.search(cache.get(("hard",), pytest.fail), QUERY)
    real_ensure = live_index.ensure_index
    building = threading.Event()

    def slow_ensure(*args, **kwargs):  # an index build that takes a while
        building.set()
        time.sleep(3)
        return real_ensure(*args, **kwargs)

    monkeypatch.setattr(live_index, "ensure_index", slow_ensure)
    slow = threading.Thread(
        target=cache.get,
        args=(
            ("random",),
            lambda: DenseRanker("random", CHECKPOINTS["random"], catalog, chroma_path=tmp_path),
        ),
    )
    slow.start()
    assert building.wait(30)
    for _ in range(5):  # answered while the other is built, not after: nothing waits for the build
        assert cache.get(("hard",), pytest.fail) is open_one
        assert results.search(open_one, QUERY).hits
    assert slow.is_alive(), "the slow build was still going while those searches ran"
    slow.join(60)
    assert results.search(cache.get(("random",), pytest.fail), QUERY).hits, "the slow one was made once"


def test_a_value_is_made_once_however_many_threads_ask():
    cache, made = KeyedCache(), []

    def make():
        made.append(1)
        time.sleep(0.2)
        return object()

    threads = [threading.Thread(target=cache.get, args=("k", make)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
    first = cache.get("k", make)
    cache.get("k2", object, replaces=lambda old: old == "k")  # a newer version of "k"
    assert cache.get("k", object) is not first, "the replaced value was dropped"
