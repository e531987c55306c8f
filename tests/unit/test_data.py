"""core.data.msmarco on files the tests write: schema, ids, parquet, folders, the split, bad sources."""

import json

import pandas as pd
import pytest

from core.data.corpora import load_corpus
from core.data.corpus import DataSourceError, is_validation, passage_id, split_queries, tune_queries
from core.data.msmarco import build_corpus
from tests.conftest import tiny_rows


def test_jsonl_with_extra_keys(tiny_jsonl):
    c = load_corpus(str(tiny_jsonl))
    assert len(c.queries) == 18 and len(c.passages) == 12  # 12 unique texts, shared across queries
    q0 = c.queries.query_id[0]
    assert c.candidates[q0][0] in c.positives[q0] and len(c.positives[q0]) == 1
    assert c.passages.pid.is_unique


def test_same_text_same_id_and_parquet_equals_jsonl(tiny_jsonl, tmp_path):
    a = load_corpus(str(tiny_jsonl))
    pq = tmp_path / "tiny.parquet"
    pd.DataFrame(tiny_rows(extra_keys=False)).to_parquet(pq)
    b = load_corpus(str(pq))
    assert a.fingerprint() == b.fingerprint()
    assert passage_id("paris is the capital city of france") == passage_id(
        "  paris is the capital city of france "
    )


def test_folder_source_and_env(tiny_jsonl, monkeypatch):
    monkeypatch.setenv("MSMARCO_SOURCE", str(tiny_jsonl.parent))
    assert len(load_corpus().queries) == 18


def test_rows_without_positive_are_kept():
    rows = tiny_rows()
    rows[0]["passages"]["is_selected"] = [0, 0, 0]
    c = build_corpus(rows)
    qid = str(rows[0]["query_id"])
    assert qid in c.candidates and c.positives[qid] == set()
    train, val = split_queries(c, 0.3)
    assert qid not in train + val


def test_split_is_deterministic_and_disjoint(tiny_jsonl):
    c = load_corpus(str(tiny_jsonl))
    a, b = split_queries(c, 0.3), split_queries(c, 0.3)
    assert a == b and not set(a[0]) & set(a[1])
    assert is_validation("12345", 0.3) == is_validation(12345, 0.3)


def test_bad_sources(tmp_path):
    with pytest.raises(DataSourceError, match="MSMARCO_SOURCE"):
        load_corpus(str(tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"query_id": 1, "query": "x", "passages": {"is_selected": [1], "passage_text": ["a"]}}\n{oops\n'
    )
    with pytest.raises(DataSourceError, match=r"bad.jsonl:2"):
        load_corpus(str(bad))
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"id": 1, "text": "not msmarco"}) + "\n")
    with pytest.raises(DataSourceError, match="schema"):
        load_corpus(str(wrong))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceError, match="no .jsonl"):
        load_corpus(str(tmp_path / "empty"))


def test_hub_failure_is_explained(monkeypatch):
    import datasets

    def offline(*a, **k):
        raise ConnectionError("no internet")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataSourceError, match="demo corpus"):
        load_corpus("hub")


def test_the_warm_up_is_not_listed_among_searchable_checkpoints(tmp_path):
    from core.common.artifacts import find_checkpoints

    for name in ("warmup", "hard", "random", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.pt").write_bytes(b"")
    assert list(find_checkpoints(tmp_path)) == ["random", "hard", "other"]


def test_tuning_slice_sits_between_validation_and_training():
    c = build_corpus(tiny_rows())
    train, val = split_queries(c, 0.3, 0.2)
    tune = tune_queries(c, 0.3, 0.2)
    assert tune and not set(tune) & set(train) and not set(tune) & set(val)
    assert sorted(train + val + tune) == sorted(q for q in c.queries.query_id if c.positives[q])
    assert split_queries(c, 0.3, 0.2)[1] == split_queries(c, 0.3)[1]  # validation never moves
    assert tune_queries(c, 0.3, 0.0) == []
