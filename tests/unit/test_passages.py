"""Stored passage vectors (`core.model.passages`): read back exactly when they were made by this
checkpoint file for this corpus; ignored (so the passages are encoded again) when either changed or
the file is damaged; never half-written; an engine opens on them without encoding."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis import results
from core.common.config import ModelConfig
from core.data.msmarco import build_corpus
from core.model.encoder import Checkpoint, Encoder
from core.model.passages import CHECKED, ensure_vectors, load_vectors, save_vectors, vectors_path
from core.model.two_tower import TwoTower, save_checkpoint
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from tests.conftest import tiny_rows, whole

real_encode = Encoder.encode_passages


@pytest.fixture
def checkpoint(glove_vocab, tmp_path):
    model = TwoTower.from_vocab(ModelConfig(hidden=16, out_dim=16, lexical=True), glove_vocab)
    save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"data": {"query_len": 32, "passage_len": 64}})
    return Checkpoint("tiny", tmp_path / "model.pt")


def checked_only(encoder, texts, **kwargs):
    """`encode_passages` that fails unless it is the content check's few rows (`passages.CHECKED`)."""
    assert len(texts) <= CHECKED, "encoded"
    return real_encode(encoder, texts, **kwargs)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(tiny_rows())


def test_stored_vectors_are_read_back_exactly_instead_of_encoding(checkpoint, corpus, monkeypatch):
    texts, fp = list(corpus.passages.text), corpus.fingerprint()
    encoded = checkpoint.encoder.encode_passages(texts)
    save_vectors(checkpoint, encoded, fp)
    assert not list(vectors_path(checkpoint).parent.glob(".*.tmp"))  # written whole, then renamed
    monkeypatch.setattr(type(checkpoint.encoder), "encode_passages", checked_only)
    assert np.array_equal(whole(ensure_vectors(checkpoint, texts, fp)[0]), whole(encoded))
    assert not ensure_vectors(checkpoint, texts, fp)[1]


def test_vectors_of_another_corpus_or_checkpoint_or_a_damaged_file_are_ignored(checkpoint, corpus):
    texts, fp = list(corpus.passages.text), corpus.fingerprint()
    encoded = checkpoint.encoder.encode_passages(texts)
    assert load_vectors(checkpoint, fp, texts) is None  # none stored yet
    save_vectors(checkpoint, encoded, "another corpus")
    assert load_vectors(checkpoint, fp, texts) is None
    vectors, encoded_now = ensure_vectors(checkpoint, texts, fp)  # encoded again, and stored
    assert encoded_now and np.array_equal(whole(vectors), whole(encoded))
    assert np.array_equal(whole(load_vectors(checkpoint, fp, texts)), whole(encoded))
    save_vectors(checkpoint, encoded, fp)
    assert load_vectors(checkpoint, fp, [*texts, "one more"]) is None  # a corpus of another size
    retrained = Checkpoint("tiny", checkpoint.path)
    retrained.__dict__["fingerprint"] = "0" * 16  # as if model.pt had been replaced
    assert load_vectors(retrained, fp, texts) is None
    vectors_path(checkpoint).write_bytes(b"not a zip file")
    assert load_vectors(checkpoint, fp, texts) is None
    vectors_path(checkpoint).write_bytes(vectors_path(checkpoint).read_bytes()[:5])
    assert load_vectors(checkpoint, fp, texts) is None


def test_an_engine_opens_on_stored_vectors_without_encoding_and_searches_them(
    checkpoint, corpus, monkeypatch
):
    catalog = Catalog(corpus)
    encoded = checkpoint.encoder.encode_passages(catalog.texts)
    save_vectors(checkpoint, encoded, catalog.fingerprint)
    monkeypatch.setattr(type(checkpoint.encoder), "encode_passages", checked_only)
    engine = DenseRanker("tiny", checkpoint, catalog)
    assert np.array_equal(whole(engine.vectors), whole(encoded))
    query = corpus.queries.text.iloc[0]
    expected = np.argsort(-checkpoint.encoder.encode_queries([query]).scores(encoded)[0], kind="stable")[:3]
    assert [h.pid for h in results.search(engine, query, 3).hits] == [catalog.pids[r] for r in expected]


def test_an_engine_encodes_when_the_stored_vectors_are_stale(checkpoint, corpus):
    catalog = Catalog(corpus)
    encoded = checkpoint.encoder.encode_passages(catalog.texts)
    save_vectors(checkpoint, encoded, "another corpus")
    assert np.array_equal(whole(DenseRanker("tiny", checkpoint, catalog).vectors), whole(encoded))


def test_an_encoding_killed_after_a_part_resumes_at_the_first_missing_part(checkpoint, corpus, monkeypatch):
    """Parts of 5 passages: killed in the second part, the next run reads the first from disk and
    encodes the other 7 passages; the parts are gone once the vectors are stored."""
    from core.model import passages

    class Killed(BaseException):
        pass

    texts, fp = list(corpus.passages.text), corpus.fingerprint()
    monkeypatch.setattr(passages, "PART", 5)
    encoded, kill = [], [True]

    def encode(encoder, chunk, **kwargs):
        if kill[0] and encoded:
            raise Killed
        encoded.append(len(chunk))
        return real_encode(encoder, chunk, **kwargs)

    monkeypatch.setattr(type(checkpoint.encoder), "encode_passages", encode)
    with pytest.raises(Killed):
        ensure_vectors(checkpoint, texts, fp)
    parts = passages.parts_folder(vectors_path(checkpoint))
    assert encoded == [5] and [p.name for p in parts.iterdir()] == ["00000.npz"]
    kill[0] = False
    seen = []
    vectors, made = ensure_vectors(checkpoint, texts, fp, progress=lambda d, t: seen.append((d, t)))
    assert made and encoded == [5, 5, 2], "the first part read from disk, not encoded again"
    assert seen[-1] == (12, 12) and not parts.exists()
    assert np.allclose(whole(vectors), whole(real_encode(checkpoint.encoder, texts)), atol=1e-6)


def test_a_progress_bar_says_the_rate_and_the_time_left():
    from core.common.types import pace

    assert pace(0, 100, 0.0) == "starting"
    assert pace(500, 1500, 2.0) == "250/s, about 4 s left"
    assert pace(1000, 1_000_000, 1.0) == "1,000/s, about 17 min left"
