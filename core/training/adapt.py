"""Adapting a checkpoint to a corpus without labels: its pseudo-queries (core.data.pseudo) as the
training queries of a corpus of their own, the checkpoint grown by the corpus's words
(core.model.new_words) as the start, random or BM25-mined negatives, and `train` as for any run. The
corpus's judged queries are never trained on: they measure the result (`eval --corpus`)."""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.common.artifacts import CheckpointError
from core.common.config import Config, validate
from core.common.types import Hook
from core.data.corpus import Corpus, DataSourceError, split_position
from core.data.pseudo import PseudoQuery, pseudo_queries
from core.data.text import tokenize
from core.data.triplets import save_mined
from core.model.encoder import Encoder
from core.model.new_words import with_words
from core.model.two_tower import file_fingerprint, load_checkpoint, save_checkpoint
from core.retrieval.bm25 import BM25
from core.retrieval.hybrid import fit_on_corpus, save_weight
from core.training.session import trained_queries, training_pool
from core.training.train import Judged, train

REST = "#rest"  # an ICT query's positive, its passage less the cut sentence: pid + REST
DEPTH, SKIP, KEEP = 30, 3, 10  # mined candidates per query, the top ones skipped, negatives kept
CHUNK = 1000  # pseudo-queries scored at once
TUNE_SHARE = 1 / 3  # of a corpus's judged queries: what picks the epoch kept, never reported


def judged_split(corpus: Corpus) -> tuple[list[str], list[str]]:
    """(tuning, reported): a corpus's judged queries split by a hash of their ids, TUNE_SHARE of them
    to choose the epoch an adaptation keeps, the rest all that its figures are reported on."""
    judged = [q for q in corpus.queries.query_id if corpus.positives[q]]
    tune = {q for q in judged if split_position(q) < TUNE_SHARE}
    return [q for q in judged if q in tune], [q for q in judged if q not in tune]


def fit_fusion(checkpoint: Path, corpus: Corpus, artifacts: Path, name: str) -> float | None:
    """The fusion weight of the adapted `checkpoint`'s hybrid, fitted on its corpus's tuning share of
    judged queries (`judged_split`: the queries that chose its epoch, never those reported) and kept in
    artifacts/hybrid.json under `name`; None for a corpus without judged queries (its hybrid fuses at
    the start's weight)."""
    tune, _ = judged_split(corpus)
    if not tune:
        return None
    weight, table, n = fit_on_corpus(Encoder.from_checkpoint(checkpoint), corpus, tune, sample=len(tune))
    fitted_on = {
        "split": f"tuning: {TUNE_SHARE:.0%} of {corpus.source}'s judged queries by a hash of their ids"
    }
    save_weight(artifacts, name, file_fingerprint(checkpoint), weight, table, n, fitted_on)
    return weight


def is_adapted(checkpoint: Path) -> bool:
    """Whether the checkpoint file was written by an adaptation (a damaged one is not)."""
    try:
        return "adapted" in load_checkpoint(checkpoint)[2]
    except CheckpointError:
        return False


def training_corpus(corpus: Corpus, queries: list[PseudoQuery], seed: int) -> Corpus:
    """A corpus to train on: the corpus's passages, and each removed-sentence ICT query's positive
    (the rest of its passage) as a passage of its own; the pseudo-queries, shuffled under `seed` (so
    that the first N of them are drawn from the whole corpus), as its queries, each judged for the
    one passage it should find."""
    queries = [queries[i] for i in np.random.default_rng(seed).permutation(len(queries))]
    rests = [(q.pid + REST, q.rest) for q in queries if q.rest is not None]
    passages = pd.concat(
        [corpus.passages[["pid", "text"]], pd.DataFrame(rests, columns=["pid", "text"])], ignore_index=True
    )
    ids = [f"pq{i}" for i in range(len(queries))]
    return Corpus(
        passages=passages.drop_duplicates("pid"),
        queries=pd.DataFrame({"query_id": ids, "text": [q.query for q in queries]}),
        qrels={qid: {q.pid + (REST if q.rest is not None else ""): 1} for qid, q in zip(ids, queries)},
        source=f"pseudo-queries of {corpus.source}",
    )


def grown_start(checkpoint: Path, corpus: Corpus, out: Path) -> Path:
    """The checkpoint with its vocabulary grown by the corpus's words, written to `out` (the start of
    an adaptation: the words of the corpus count from the first step)."""
    encoder = with_words(Encoder.from_checkpoint(checkpoint), [tokenize(t) for t in corpus.texts()])
    save_checkpoint(out, encoder.model, encoder.vocab, encoder.meta)
    return out


def mined_negatives(how: str, train: Corpus, qids: list[str], pool: set[str], start: Path) -> dict:
    """Each query's negatives mined on the training corpus by BM25 or by the checkpoint `start`
    ("model"): its best-ranked passages of the negative `pool` that are not its positive (nor its
    passage, nor that passage's ICT rest), the first SKIP skipped (likely answers nobody judged)."""
    text = dict(zip(train.queries.query_id, train.queries.text))
    rank = _bm25_ranking(train) if how == "bm25" else _model_ranking(train, start)
    mined = {}
    for at in range(0, len(qids), CHUNK):
        chunk = qids[at : at + CHUNK]
        for qid, ranked in zip(chunk, rank([text[q] for q in chunk])):
            own = {p.removesuffix(REST) for p in train.positives[qid]}
            kept = [p for p in ranked if p in pool and p.removesuffix(REST) not in own]
            mined[qid] = kept[SKIP : SKIP + KEEP]
    return mined


def _bm25_ranking(train: Corpus):
    index = BM25().fit(train.texts(), list(train.passages.pid))
    return lambda queries: [[h.docid for h in hits] for hits in index.batch_search(queries, DEPTH)]


def _model_ranking(train: Corpus, start: Path):
    encoder, pids = Encoder.from_checkpoint(start), np.array(train.passages.pid)
    vectors = encoder.encode_passages(train.texts())

    def rank(queries: list[str]) -> list[list[str]]:
        scores = encoder.encode_queries(queries).scores(vectors)
        depth = min(DEPTH, scores.shape[1])
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        order = np.take_along_axis(scores, top, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
        return [list(pids[row]) for row in np.take_along_axis(top, order, axis=1)]

    return rank


def plan(queries: int, steps: int, batch: int) -> tuple[int, int]:
    """(epochs, max_queries) that train `steps` steps of `batch` over at most `queries` training
    queries of one positive each: the fewest epochs that reach the budget, each over the same first
    steps × batch / epochs queries (so a corpus of any size trains about as many steps)."""
    epochs = math.ceil(steps * batch / queries)
    return epochs, math.ceil(steps * batch / epochs)


def matched_queries(corpus: Corpus, qids: list[str], steps: int, batch: int) -> int:
    """The fewest of `qids` (in order) whose triplets (one per positive) fill `steps` steps of
    `batch`: the control's queries per epoch, so that it trains as many steps as its arm."""
    total = 0
    for n, q in enumerate(qids, 1):
        total += len(corpus.positives[q])
        if total > (steps - 1) * batch:
            return n
    raise ValueError(f"{len(qids)} training queries cannot fill {steps} steps of {batch}")


def steps_per_epoch(cfg: Config, train: Corpus) -> int:
    """How many steps one epoch of `cfg` takes on `train`."""
    return math.ceil(sum(len(train.positives[q]) for q in trained_queries(cfg, train)) / cfg.train.batch_size)


def adapt_config(
    cfg: Config, start: Path, pseudo: Corpus, steps: int, control: Corpus | None = None
) -> Config:
    """`cfg`'s `train` settings (the warm-up's: one explicit negative per query beside the in-batch
    ones) continuing `start` for a budget of about `steps` steps of the corpus's pseudo-queries
    (`plan`), random negatives; with `control`, the same settings and steps on the control's queries
    instead (`matched_queries`)."""
    tc = dataclasses.replace(cfg.train, init_from=str(start), negatives="random", hard_file=None)
    cfg = dataclasses.replace(cfg, train=tc)
    epochs, max_queries = plan(len(trained_queries(cfg, pseudo)), steps, tc.batch_size)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(tc, epochs=epochs, max_queries=max_queries))
    if control is not None:
        wanted = steps_per_epoch(cfg, pseudo)
        qids = trained_queries(
            dataclasses.replace(cfg, train=dataclasses.replace(tc, max_queries=0)), control
        )
        matched = matched_queries(control, qids, wanted, tc.batch_size)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_queries=matched))
    return cfg


def with_negatives(cfg: Config, how: str, train: Corpus, start: Path, workdir: Path) -> Config:
    """`cfg` training with negatives mined `how` (`mined_negatives`, for the queries it trains on,
    from the passages its random negatives are drawn from), or random ones."""
    if how == "random":
        return cfg
    pool = set(training_pool(cfg, train))
    path = workdir / f"{how}_negatives.json"
    save_mined(path, mined_negatives(how, train, trained_queries(cfg, train), pool, start), {"source": how})
    return dataclasses.replace(
        cfg, train=dataclasses.replace(cfg.train, negatives="hard", hard_file=str(path))
    )


@dataclass(frozen=True)
class Adaptation:
    """What one adaptation trains: `corpus` (named `name`), continuing checkpoint `start` (named
    `start_name`), on its pseudo-queries of `kinds` under `seed`, for a budget of `steps` with
    negatives mined `negatives`; with `control`, the same on the control's queries instead."""

    corpus: Corpus
    name: str
    start_name: str
    start: Path
    negatives: str
    kinds: list[str]
    steps: int
    seed: int
    control: Corpus | None = None
    threads: int = 1  # torch threads (what a step computes is the same at any number)


def adapt(plan: Adaptation, out: Path, hook: Hook | None = None, force: bool = False) -> dict:
    """Train `plan` into `out` (`train`'s swap: nothing half-written, even when cancelled), measuring
    the corpus's judged queries at each validation where it has them; returns the log. The grown
    start and the mined negatives live in a temporary folder, removed however the run ends."""
    made = [q for q in pseudo_queries(plan.corpus, plan.seed) if q.kind in plan.kinds]
    if not made:
        raise DataSourceError(
            f"corpus {plan.name!r} gives no pseudo-queries of {', '.join(plan.kinds)}: add other --kinds"
        )
    pseudo = training_corpus(plan.corpus, made, plan.seed)
    trained_on = plan.control if plan.control is not None else pseudo
    work = Path(tempfile.mkdtemp(prefix="adapt-"))
    try:
        grown = grown_start(plan.start, plan.corpus, work / "start.pt")
        base = Config()
        base.train.threads = plan.threads
        cfg = adapt_config(base, grown, pseudo, plan.steps, plan.control)
        cfg = validate(with_negatives(cfg, plan.negatives, trained_on, grown, work))
        adapted = {
            "corpus": plan.name,
            "from": plan.start_name,
            "from_fingerprint": file_fingerprint(plan.start),  # its hybrid's weight is the start's
            "negatives": plan.negatives,
            "kinds": list(plan.kinds),
        }
        meta = {"adapted": adapted, "control": plan.control is not None}
        judged = Judged(plan.corpus, *judged_split(plan.corpus)) if plan.corpus.judged else None
        return train(cfg, trained_on, None, out, extra_meta=meta, hook=hook, force=force, judged=judged)
    finally:
        shutil.rmtree(work, ignore_errors=True)
