"""Chroma server mode: a real `chroma run` on localhost, an index built into it through the same
`ensure_index` the embedded path uses, and searches that agree with exact search; the app's engine
reaches it through CHROMA_HOST / CHROMA_PORT."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.analysis import results
from core.data.corpora import load_corpus
from core.model.encoder import Encoder
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.vectors import ExactIndex, IndexTarget, SearchIndexError
from tests.conftest import demo_jsonl, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMA = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")


@pytest.fixture  # one server per test: sharing one across the module, the engine test's query hung
def server(tmp_path_factory):
    if not Path(CHROMA).is_file():
        pytest.skip(f"the `chroma` command (from the chromadb package) was not found at {CHROMA}")
    port, folder = free_port(), tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [CHROMA, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 60
    while True:
        try:
            chroma_client(host="127.0.0.1", port=port)
            break
        except SearchIndexError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"chroma run did not come up on port {port}: {proc.stdout.read()[-2000:]}")
            time.sleep(0.5)
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(timeout=20)


def test_index_built_into_a_server_agrees_with_exact_search(server, glove_vocab, tiny_jsonl):
    host, port = server
    corpus = load_corpus(str(tiny_jsonl))
    pids, texts = list(corpus.passages.pid), list(corpus.passages.text)
    enc = Encoder.glove_average(glove_vocab)
    client = chroma_client(host=host, port=port)
    target = IndexTarget("server-test", "fp1", None, pids, texts, corpus.fingerprint())
    made = ensure_index(client, enc, target)
    assert made.built and len(made.index) == len(pids)
    exact = ExactIndex()
    exact.add(pids, made.vectors)
    queries = list(corpus.queries.text)
    ann, truth = made.index.query(enc.encode_queries(queries), 5), exact.query(enc.encode_queries(queries), 5)
    assert [[h.docid for h in a] for a in ann] == [[h.docid for h in t] for t in truth]
    # a second client (another app process) finds the finished index instead of rebuilding it
    again = ensure_index(chroma_client(host=host, port=port), enc, target)
    assert not again.built and again.index.query(enc.encode_queries(queries), 5) == ann


def test_the_app_engine_reaches_the_server_through_the_environment(server, tmp_path, monkeypatch):
    host, port = server
    ckpt = ROOT / "artifacts" / "hard" / "model.pt"
    if not ckpt.is_file():
        pytest.skip("committed checkpoint artifacts/hard/model.pt is missing")
    sample = demo_jsonl(tmp_path / "sample.jsonl", stop=300)
    monkeypatch.setenv("CHROMA_HOST", host)
    monkeypatch.setenv("CHROMA_PORT", str(port))
    catalog = Catalog(load_corpus(str(sample)))
    engine = DenseRanker("hard", ckpt, catalog, chroma_path=tmp_path / "unused")
    assert not (tmp_path / "unused").exists(), "with CHROMA_HOST set nothing is written locally"
    query = catalog.corpus.queries.text.iloc[0]
    result = results.search(engine, query, 5)
    exact = ExactIndex()
    exact.add(catalog.pids, engine.vectors)
    assert [h.pid for h in result.hits] == [
        h.docid for h in exact.query(engine.encoder.encode_queries([query]), 5)[0]
    ]
    names = [c if isinstance(c, str) else c.name for c in chroma_client().list_collections()]
    assert f"checkpoint-{engine.fingerprint}-{catalog.fingerprint}" in names


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(SearchIndexError, match="chroma run"):
        chroma_client(host="127.0.0.1", port=free_port())
