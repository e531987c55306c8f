"""Dense + BM25 fusion: the formula, the weight fit on tuning queries, the stored weights."""

import numpy as np
import pytest

from core.common.artifacts import CheckpointError
from core.retrieval.hybrid import GRID, fit_weight, fuse, read_weights, save_weight, weight_for


def test_fuse_scales_bm25_by_each_querys_best_score():
    cos = np.array([[0.5, 0.1, -0.2], [0.3, 0.2, 0.1]], dtype=np.float32)
    bm = np.array([[4.0, 2.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    out = fuse(cos, bm, 0.25)
    assert np.allclose(out[0], 0.25 * cos[0] + 0.75 * np.array([1.0, 0.5, 0.0]))
    assert np.allclose(out[1], 0.25 * cos[1])  # no BM25 match: cosines alone
    assert np.allclose(fuse(cos, bm, 1.0), cos)


def test_fit_weight_finds_the_mix_that_ranks_the_judged_passage_first():
    """Query 0 is answered by cosine only, query 1 by BM25 only: neither extreme gets both first,
    a middle weight does, and the fit finds one."""
    cos = np.array([[0.9, 0.5, 0.0], [0.5, 0.9, 0.0]], dtype=np.float32)
    bm = np.array([[1.0, 2.0, 0.0], [3.0, 0.1, 0.0]], dtype=np.float32)
    rel = np.array([[True, False, False], [True, False, False]])
    weight, table = fit_weight(cos, bm, rel)
    assert 0 < weight < 1 and table[weight] == 1.0 and table[0.0] < 1.0 and table[1.0] < 1.0
    assert set(table) == set(GRID)


def test_weights_are_found_by_checkpoint_fingerprint(tmp_path):
    assert read_weights(tmp_path) == {} and weight_for(tmp_path, "abc") is None
    tuning = {"split": "tuning", "hash_range": [0.125, 0.175]}
    save_weight(tmp_path, "hard", "abc", 0.4, {0.4: 0.7}, 100, tuning)
    save_weight(tmp_path, "random", "def", 0.6, {0.6: 0.6}, 100, tuning)
    assert read_weights(tmp_path)["hard"]["fitted_on"] == tuning
    assert weight_for(tmp_path, "abc") == 0.4 and weight_for(tmp_path, "def") == 0.6
    assert weight_for(tmp_path, "other") is None
    (tmp_path / "hybrid.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="hybrid.json is damaged"):  # said, naming the file
        read_weights(tmp_path)


def test_weights_are_fitted_on_the_tuning_slice_never_on_training_or_validation_queries():
    from core.data.corpus import split_queries
    from core.data.msmarco import build_corpus
    from core.retrieval.hybrid import fitting_queries
    from tests.conftest import tiny_rows

    corpus = build_corpus(tiny_rows())
    split, qids = fitting_queries(corpus, 0.3, 0.2)
    train, val = split_queries(corpus, 0.3, 0.2)
    assert split == {"split": "tuning", "hash_range": [0.3, 0.5]}
    assert qids and not set(qids) & (set(train) | set(val))
    old_split, old_qids = fitting_queries(corpus, 0.3, 0.0)  # a checkpoint without a tuning slice says so
    assert old_split["split"].startswith("training") and old_qids == split_queries(corpus, 0.3)[0]


def test_no_tuning_query_is_an_error_that_says_what_to_change():
    import pytest

    with pytest.raises(ValueError, match="--tune-fraction"):
        fit_weight(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), dtype=bool))
