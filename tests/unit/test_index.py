"""core.retrieval.index on random vectors, a tiny corpus: Chroma round trip, chunked adds, staleness."""

import numpy as np
import pytest

from core.model.encoded import Encoded
from core.model.encoder import Encoder
from core.retrieval.index import HNSW, chroma_client, ensure_index
from core.retrieval.vectors import ChromaIndex, ExactIndex, IndexTarget


def target(fingerprint: str, pids: list[str], texts: list[str], corpus: str, path: str | None = None):
    """The index of checkpoint "mdl" (`fingerprint`, file `path`) over a corpus."""
    return IndexTarget("mdl", fingerprint, path, pids, texts, corpus)


def random_unit(n, d, seed) -> Encoded:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return Encoded.of_dense(x / np.linalg.norm(x, axis=1, keepdims=True))


def test_chroma_round_trip_and_agreement_with_exact(tmp_path):
    ids = [f"p{i}" for i in range(500)]
    vecs = random_unit(500, 32, 0)
    client = chroma_client(tmp_path / "chroma")
    col = client.create_collection("tst", configuration={"hnsw": HNSW}, embedding_function=None)
    ChromaIndex(col, client.get_max_batch_size()).add(ids, vecs)
    queries = random_unit(20, 32, 1)
    before = ChromaIndex(col, 1000).query(queries, 10)
    del client, col
    reopened = ChromaIndex(
        chroma_client(tmp_path / "chroma").get_collection("tst", embedding_function=None), 1000
    )
    after = reopened.query(queries, 10)
    assert [[h.docid for h in hits] for hits in before] == [[h.docid for h in hits] for hits in after]
    exact = ExactIndex()
    exact.add(ids, vecs)
    truth = exact.query(queries, 10)
    assert [h.docid for h in truth[0]] == [h.docid for h in after[0]]
    assert abs(truth[0][0].score - after[0][0].score) < 1e-4  # cosine similarity, not distance
    got = reopened.collection.get(ids=["p7", "p2"], include=["embeddings"])
    stored = dict(zip(got["ids"], got["embeddings"]))
    assert np.allclose([stored["p7"], stored["p2"]], vecs.dense[[7, 2]], atol=1e-6)


def test_chroma_adds_are_chunked(tmp_path):
    client = chroma_client(tmp_path / "chroma")
    col = client.create_collection("chunks", configuration={"hnsw": HNSW}, embedding_function=None)
    calls = []
    real_add = col.add
    col.add = lambda **kw: calls.append(len(kw["ids"])) or real_add(**kw)
    idx = ChromaIndex(col, max_batch=64)
    idx.add([f"p{i}" for i in range(150)], random_unit(150, 8, 2))
    assert calls == [64, 64, 22] and len(idx) == 150


def test_ensure_index_reuses_and_detects_stale(tmp_path, glove_vocab):
    enc = Encoder.glove_average(glove_vocab)
    client = chroma_client(tmp_path / "chroma")
    pids, texts = ["a", "b", "c"], ["coffee is a drink", "paris is in france", "the moon orbits earth"]
    seen = []
    made = ensure_index(
        client, enc, target("fp1", pids, texts, "corpus1"), progress=lambda d, t: seen.append((d, t))
    )
    assert made.built and len(made.index) == 3
    assert np.allclose(made.vectors.dense, enc.encode_passages(texts).dense)
    assert seen[-1] == (6, 6) and [d for d, _ in seen] == sorted(d for d, _ in seen)  # encode 3, then add 3
    assert not ensure_index(client, enc, target("fp1", pids, texts, "corpus1")).built
    # a changed checkpoint (new fingerprint) or corpus is stale: rebuilt; the older index of the same
    # checkpoint file over the same corpus is dropped, never another file's or another corpus's
    assert ensure_index(client, enc, target("fp1", pids, texts, "corpus1", "a/mdl/model.pt"), True).built
    assert ensure_index(client, enc, target("fp2", pids, texts, "corpus1", "a/mdl/model.pt")).built
    assert ensure_index(client, enc, target("fp2", pids, texts, "corpus2", "a/mdl/model.pt")).built
    assert ensure_index(client, enc, target("fp3", pids, texts, "corpus2", "b/mdl/model.pt")).built
    names = sorted(c if isinstance(c, str) else c.name for c in client.list_collections())
    assert names == ["checkpoint-fp2-corpus1", "checkpoint-fp2-corpus2", "checkpoint-fp3-corpus2"]
    made = ensure_index(client, enc, target("fp2", pids, texts, "corpus2"))
    assert not made.built and made.vectors is None
    assert made.index.query(enc.encode_queries(["capital of france"]), 1)[0][0].docid == "b"


def test_interrupted_build_leaves_previous_index(tmp_path, glove_vocab, monkeypatch):
    enc = Encoder.glove_average(glove_vocab)
    client = chroma_client(tmp_path / "chroma")
    pids, texts = ["a", "b"], ["coffee is a drink", "paris is in france"]
    ensure_index(client, enc, target("fp1", pids, texts, "c1"))

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ChromaIndex, "add", boom)
    with pytest.raises(KeyboardInterrupt):
        ensure_index(client, enc, target("fp1", pids, texts, "c1"), force=True)
    monkeypatch.undo()
    # the previous index survived and is reused; a new build removes the dead temporary collection
    made = ensure_index(client, enc, target("fp1", pids, texts, "c1"))
    assert not made.built and len(made.index) == 2
    made = ensure_index(client, enc, target("fp1", pids, texts, "c1"), force=True)
    assert made.built and [c if isinstance(c, str) else c.name for c in client.list_collections()] == [
        "checkpoint-fp1-c1"
    ]


def test_clients_opened_by_threads_at_once_all_work(tmp_path):
    """Two engines' background index builds open the same new Chroma folder together: each of their
    clients works (Chroma's shared client system failed when two threads created it at once)."""
    import threading

    errors, start = [], threading.Barrier(4)

    def open_and_use(n: int) -> None:
        start.wait()
        try:
            chroma_client(tmp_path / "chroma").get_or_create_collection(f"checkpoint-{n}")
        except Exception as e:  # the failure this test is about
            errors.append(repr(e))

    threads = [threading.Thread(target=open_and_use, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(chroma_client(tmp_path / "chroma").list_collections()) == 4


def test_a_build_killed_while_adding_resumes_without_redoing_finished_chunks(
    tmp_path, glove_vocab, monkeypatch
):
    """A kill after two chunks of 64: the next build encodes and adds only the 22 passages left."""

    class Killed(BaseException):  # as a kill: no `except Exception` stops it
        pass

    enc = Encoder.glove_average(glove_vocab)
    pids = [f"p{i}" for i in range(150)]
    texts = [f"passage {i} on {('coffee', 'paris', 'the moon')[i % 3]}" for i in range(150)]
    client = chroma_client(tmp_path / "chroma")
    added, encoded, kill = [], [], [True]
    real_add, real_encode = ChromaIndex.add, Encoder.encode_passages

    def add(self, ids, vectors, progress=False, chunk=None):
        col_add = self.collection.add

        def counted(**kw):
            if kill[0] and len(added) == 2:
                raise Killed
            added.append(len(kw["ids"]))
            col_add(**kw)

        self.collection.add = counted
        return real_add(self, ids, vectors, progress, chunk)

    monkeypatch.setattr(ChromaIndex, "add", add)
    monkeypatch.setattr(
        Encoder, "encode_passages", lambda s, t, **kw: encoded.append(len(t)) or real_encode(s, t, **kw)
    )
    with pytest.raises(Killed):
        ensure_index(client, enc, target("fp1", pids, texts, "corpus1"), chunk=64)
    assert added == [64, 64] and encoded == [150]
    kill[0] = False
    made = ensure_index(
        chroma_client(tmp_path / "chroma"), enc, target("fp1", pids, texts, "corpus1"), chunk=64
    )
    assert made.built and added == [64, 64, 22] and encoded == [150, 22], (
        "only what the killed build had not added"
    )
    assert len(made.index) == 150 and made.vectors is None
    assert made.index.query(enc.encode_queries(["the moon"]), 3)[0][0].docid in pids
    assert not ensure_index(client, enc, target("fp1", pids, texts, "corpus1")).built
