"""Reliability: many sessions searching at once, builds killed mid-way, broken checkpoints,
unwritable artifacts, queries of any length and alphabet, and property-based tests of the
tokeniser and the metrics (hypothesis)."""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import cli
from core.artifacts import write_json
from core.encoder import Encoder
from core.data import load_corpus
from core.catalog import Catalog
from core.compare import compare
from core.queries import QueryError
from core.search import Engine, Lexical
from core.index import ExactIndex, SearchIndexError, chroma_client, ensure_index, open_index
from core.metrics import judged_rank, per_query_metrics
from core.artifacts import CheckpointError
from core.model import file_fingerprint, load_checkpoint
from core.text import _CONTROL, normalize, tokenize
from tests.conftest import DEV_PAIRS

pytestmark = pytest.mark.slow    # see pytest.ini

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "artifacts" / "hard" / "model.pt"
SECONDS = float(os.environ.get("HARDENING_SECONDS", 30))
needs_real = pytest.mark.skipif(not DEV_PAIRS.is_file() or not CHECKPOINT.is_file(),
                                reason=f"needs real MS MARCO data at {DEV_PAIRS.parent} and {CHECKPOINT}")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The first 600 dev queries (about 600 passages): indexes build in seconds."""
    path = tmp_path_factory.mktemp("sample") / "sample.jsonl"
    with open(DEV_PAIRS) as f:
        path.write_text("".join(next(f) for _ in range(600)))
    return path


@pytest.fixture(scope="module")
def engine(sample, tmp_path_factory):
    catalog = Catalog(load_corpus(str(sample)))
    return Engine("hard", CHECKPOINT, catalog, chroma_path=tmp_path_factory.mktemp("chroma"))


# --- many sessions at once -----------------------------------------------------------------------

@needs_real
def test_sixteen_threads_search_for_thirty_seconds_without_errors(engine):
    """16 threads (app sessions) search, compare and run BM25 for SECONDS; every answer must equal
    the answer the same query got alone."""
    lexical = Lexical(engine.catalog)
    queries = list(engine.catalog.corpus.queries.text[:40]) + ["what is the capital of france", "ÿüñïçødé café ☕ naïve"]
    alone = {q: [h.pid for h in engine.search(q, 10).hits] for q in queries}
    alone_bm25 = {q: [h.pid for h in lexical.search(q, 10).hits] for q in queries}
    deadline, errors, done = time.time() + SECONDS, [], [0] * 16

    def session(i: int) -> None:
        rng = random.Random(i)
        while time.time() < deadline and not errors:
            q = rng.choice(queries)
            try:
                if i % 4 == 3:
                    ok = [h.pid for h in lexical.search(q, 10).hits] == alone_bm25[q]
                elif i % 4 == 2:
                    c = compare(q, engine, engine, 10)
                    ok = [h.pid for h in c.left.hits] == alone[q] and c.overlap == 1.0
                else:
                    ok = [h.pid for h in engine.search(q, 10).hits] == alone[q]
            except Exception as e:               # noqa: BLE001 - any error is the failure being tested for
                errors.append(f"session {i}: {type(e).__name__}: {e}")
                return
            if not ok:
                errors.append(f"session {i}: different results for {q!r} under load")
            done[i] += 1

    threads = [threading.Thread(target=session, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 60)
    assert not errors, errors[:5]
    assert all(n > 0 for n in done), done
    print(f"\n16 sessions, {SECONDS:.0f} s: {sum(done):,} requests ({sum(done) / SECONDS:.0f}/s), none failed")


# --- builds killed mid-way -----------------------------------------------------------------------

KILLED_BUILD = """
import sys
from core.encoder import Encoder
from core.data import load_corpus
from core.index import chroma_client, ensure_index
from core.model import file_fingerprint
ckpt, source, chroma = sys.argv[1:4]
corpus = load_corpus(source)
pids, texts = list(corpus.passages.pid), list(corpus.passages.text)
def report(done, total):
    print(done, total, flush=True)
ensure_index(chroma_client(chroma), Encoder.from_checkpoint(ckpt), "hard", file_fingerprint(ckpt), pids, texts,
             corpus.fingerprint(), force=True, progress=report)
"""


@needs_real
def test_a_rebuild_killed_while_adding_leaves_the_previous_index_usable(sample, tmp_path):
    corpus = load_corpus(str(sample))
    pids, texts = list(corpus.passages.pid), list(corpus.passages.text)
    enc, fp = Encoder.from_checkpoint(CHECKPOINT), file_fingerprint(CHECKPOINT)
    first = ensure_index(chroma_client(tmp_path / "chroma"), enc, "hard", fp, pids, texts, corpus.fingerprint())
    query = enc.encode_queries([corpus.queries.text.iloc[0]])
    before = [h.docid for h in first.index.query(query, 10)[0]]

    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(CHECKPOINT), str(sample), str(tmp_path / "chroma")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:                     # (done, total): past half, encoding is over and adding has begun
        done, total = map(int, line.split())
        if done > total // 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]

    client = chroma_client(tmp_path / "chroma")
    survivor = open_index(client, "hard", fp, corpus.fingerprint(), len(pids))
    assert survivor is not None, "the previous index must survive a killed rebuild"
    assert [h.docid for h in survivor.query(query, 10)[0]] == before
    again = ensure_index(client, enc, "hard", fp, pids, texts, corpus.fingerprint())
    assert not again.built                        # the survivor is reused
    rebuilt = ensure_index(client, enc, "hard", fp, pids, texts, corpus.fingerprint(), force=True)
    names = [c if isinstance(c, str) else c.name for c in client.list_collections()]
    assert rebuilt.built and names == [f"hard-{fp}"], names   # the dead ".building" collection is gone


def test_a_pipeline_killed_at_any_stage_leaves_consistent_artifacts_and_recovers(tiny_jsonl, tmp_path):
    """`python -m core build --force` killed right after each stage's log line: every checkpoint
    loads and metrics.json and the mined file parse (temporary files may be left behind a SIGKILL,
    never in a reader's place), and the next build finishes."""
    out = tmp_path / "artifacts"
    flags = ["--artifacts", str(out), "--source", str(tiny_jsonl), "--val-fraction", "0.3", "--top-n", "300",
             "--hidden", "16", "--out-dim", "16", "--epochs", "2", "--batch-size", "8", "--warmup-steps", "1",
             "--hard-epochs", "1", "--mine-depth", "8", "--mine-keep", "3"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CHROMA_HOST", None)
    run = [sys.executable, "-m", "core", "build", *flags]
    assert subprocess.run(run, cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0

    for stage in ("[vocab]", "[train random]", "[mine]", "[train hard]", "[index hard]"):
        proc = subprocess.Popen([*run, "--force"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        for line in proc.stdout:
            if line.startswith(stage):
                proc.kill()
                break
        proc.wait(timeout=120)
        for ckpt in out.glob("*/model.pt"):
            load_checkpoint(ckpt)                # raises on a half-written file
        json.loads((out / "metrics.json").read_text())
        load_mined_file = json.loads((out / "mined" / "negatives.json").read_text())
        assert load_mined_file, f"mined negatives unreadable after a kill at {stage}"

    final = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoints"] == {n: file_fingerprint(out / n / "model.pt") for n in ("random", "hard")}


# --- broken inputs get clear errors --------------------------------------------------------------

@needs_real
def test_corrupt_truncated_and_mismatched_checkpoints_are_explained(tmp_path, capsys):
    data = CHECKPOINT.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    ckpt = torch.load(CHECKPOINT, weights_only=True)
    ckpt["state_dict"]["embedding.weight"] = ckpt["state_dict"]["embedding.weight"][:100]   # vocabulary of another model
    mismatched = tmp_path / "mismatched.pt"
    torch.save(ckpt, mismatched)
    for path in (truncated, mismatched):
        with pytest.raises(CheckpointError, match="corrupt or incompatible"):
            load_checkpoint(path)
        assert cli.main(["eval", "--checkpoint", str(path), "--data", str(DEV_PAIRS)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: checkpoint") and "python -m core build" in err


def test_a_missing_data_source_is_explained(tmp_path, capsys):
    assert cli.main(["eval", "--checkpoint", "glove-avg", "--data", str(tmp_path / "nowhere.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_read_only_or_full_artifacts_folder_is_explained_and_nothing_is_half_written(tmp_path, tiny_jsonl, capsys,
                                                                                        monkeypatch, code):
    target = tmp_path / "artifacts" / "metrics.json"
    write_json(target, {"old": True})
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError(code, os.strerror(code), str(dst))
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_json(target, {"new": True})
    monkeypatch.setattr(os, "replace", real_replace)
    assert json.loads(target.read_text()) == {"old": True} and sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]

    def failing_train(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "run" / "model.pt"))
    monkeypatch.setattr("core.train.train", failing_train)
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--source", str(tiny_jsonl), "--top-n", "100"]) == 2
    err = capsys.readouterr().err
    assert os.strerror(code) in err and "ARTIFACTS_DIR" in err and "unchanged" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway; the monkeypatched test covers it")
def test_a_really_read_only_chroma_folder_is_an_index_error(tmp_path):
    folder = tmp_path / "chroma"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SearchIndexError, match="writable"):
            ensure_index(chroma_client(folder), None, "x", "fp", ["a"], ["text"], "c")
    finally:
        folder.chmod(0o700)


# --- queries of any length and alphabet ----------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000)


@needs_real
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(query=st.one_of(ANY_TEXT, st.text(alphabet="abc xyz?!-'", max_size=5000),
                       st.sampled_from(["", " ", "\x00", "😀" * 400, "what " * 300, "ﷺ ℌ ㎒ Ⅻ", "a\u0301" * 50])))
def test_any_query_is_answered_or_refused_with_a_message(engine, query):
    try:
        result = engine.search(query, 10)
    except QueryError as e:
        assert str(e)
        return
    assert 1 <= len(result.hits) <= 10
    assert all(-1.0001 <= h.score <= 1.0001 for h in result.hits)
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))


# --- properties of the tokeniser -----------------------------------------------------------------

@given(ANY_TEXT)
def test_tokens_are_lower_case_non_empty_and_without_whitespace(text):
    for tok in tokenize(text):
        assert tok and tok == tok.lower() and not any(ch.isspace() for ch in tok)


@given(ANY_TEXT, st.integers(0, 50))
def test_max_len_keeps_a_prefix(text, n):
    assert tokenize(text, n) == tokenize(text)[:n]


@given(st.text(st.characters(max_codepoint=127), max_size=500))
def test_the_ascii_fast_path_equals_the_full_normalisation(text):
    import unicodedata

    from core.text import _LOST_DASH, _LOST_QUOTE, _MOJIBAKE, _PUNCT_MAP, _redecode
    slow = _MOJIBAKE.sub(_redecode, text)
    slow = unicodedata.normalize("NFKC", _LOST_DASH.sub("-", _LOST_QUOTE.sub("'", slow))).translate(_PUNCT_MAP)
    assert normalize(text) == _CONTROL.sub(" ", slow)


# --- properties of the metrics -------------------------------------------------------------------

@st.composite
def rankings(draw):
    """(scores, relevance) for Q queries over C candidates, distinct scores, at least one relevant each."""
    q, c = draw(st.integers(1, 6)), draw(st.integers(1, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = np.stack([rng.permutation(c) for _ in range(q)]).astype(np.float32)
    rel = rng.random((q, c)) < draw(st.floats(0.0, 0.5))
    rel[np.arange(q), rng.integers(0, c, q)] = True
    return torch.from_numpy(scores), torch.from_numpy(rel)


@settings(max_examples=200, deadline=None)
@given(rankings())
def test_metrics_agree_with_the_judged_rank_and_stay_in_range(ranking):
    scores, rel = ranking
    m, rank = per_query_metrics(scores, rel), judged_rank(scores, rel)
    expected_mrr = torch.where(rank <= 10, 1.0 / rank.float(), torch.zeros_like(rank, dtype=torch.float32))
    assert torch.allclose(m["mrr@10"], expected_mrr)
    assert torch.equal(m["recall@1"] > 0, rank == 1)
    for name, v in m.items():
        assert ((v >= 0) & (v <= 1 + 1e-6)).all(), name
    assert (m["recall@1"] <= m["recall@5"]).all() and (m["recall@5"] <= m["recall@10"]).all()
    assert (m["recall@10"] <= m["recall@100"]).all()
    shifted = per_query_metrics(scores * 3 + 7, rel)       # a monotone change of scores changes nothing
    assert all(torch.allclose(shifted[k], m[k]) for k in m)


@given(rankings())
def test_exact_index_returns_the_metrics_order(ranking):
    scores, _ = ranking
    for row in scores:                           # 1-d "vectors" whose product with [1] is the score
        index = ExactIndex()
        index.add([str(i) for i in range(len(row))], row[:, None].numpy())
        k = min(10, len(row))
        assert [int(h.docid) for h in index.query(np.ones((1, 1), np.float32), k)[0]] == row.topk(k).indices.tolist()
