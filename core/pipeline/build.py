"""The build: its stages in order over one driver (`core.pipeline.driver.Pipeline`): vocabulary ->
pretraining on the corpus's pseudo-queries -> warm-up checkpoint -> mining with it -> two rounds
that continue it and differ only in their negatives (random, hard) -> indexes -> maps -> fusion
weights -> metrics. Stages hand off through files in `artifacts/`; each stage records a key of its
inputs and is skipped while that key still matches.

The comparison the app teaches is controlled: `random` and `hard` start from the same warm-up
checkpoint (trained with the `train` settings) and train with the same `round` settings (epochs,
learning rate, schedule, batch size, queries); only where each triplet's explicit negative comes
from differs (drawn at random, or mined with the warm-up checkpoint), passed to each round
explicitly (`core.training.rounds`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core.analysis.projection import Embedded, ensure_projections
from core.common.artifacts import (
    MINED,
    PREFERRED,
    PRETRAINED,
    WARMUP,
    artifacts_dir,
    key_of,
    read_json,
    write_json,
)
from core.common.config import Config
from core.common.types import Tally
from core.data.corpora import added, load_corpus, open_corpus
from core.data.triplets import load_mined
from core.model.encoder import Checkpoint
from core.model.passages import ensure_vectors
from core.pipeline import new_corpus
from core.pipeline.driver import Pipeline, Round
from core.retrieval.bm25 import BM25_VERSION
from core.retrieval.hybrid import read_weights, save_weight, weight_for
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.registry import METRIC_MODELS
from core.retrieval.vectors import IndexTarget
from core.training.mining import mining_stats

DENSE_MODELS = (*PREFERRED, *(f"hybrid:{n}" for n in PREFERRED))  # what a corpus's new words change
_, HARD = PREFERRED  # the compared round of mined negatives (each round named by its negatives)


@dataclass
class StageResult:
    stage: str
    status: str  # "built", "up to date" (skipped), "loaded" or "made"
    seconds: float
    detail: str = ""


def rounds(cfg: Config, out: Path) -> dict[str, Round]:
    """The build's rounds: the pretraining on pseudo-queries (unless `build.pretrain_queries` is 0),
    the warm-up (`train` settings, continuing it, else from scratch), then the compared rounds, each
    continuing the warm-up with the `round` settings and named by its negatives (hard ones mined into
    `out/MINED`)."""
    compared = {n: Round(cfg, WARMUP, n, out / MINED) for n in PREFERRED}
    if not cfg.build.pretrain_queries:
        return {WARMUP: Round(cfg), **compared}
    pretrain = Round(cfg, settings="pretrain")
    return {PRETRAINED: pretrain, WARMUP: Round(cfg, PRETRAINED, settings="train"), **compared}


class _Build:
    """One build's stages over its driver, and their log; the passage vectors the index stage read
    or encoded, which the maps and the fusion reuse."""

    def __init__(self, log):
        self.log = log
        self.results: list[StageResult] = []
        self.vectors: dict = {}

    def record(self, stage: str, t0: float, built: bool | str, detail: str = "") -> None:
        status = built if isinstance(built, str) else "built" if built else "up to date"
        self.results.append(StageResult(stage, status, round(time.time() - t0, 1), detail))
        self.log(f"[{stage}] {status} in {time.time() - t0:.1f}s {detail}")

    def load(self, cfg: Config, out: Path, force: bool, progress: Tally | None) -> None:
        t0 = time.time()
        corpus = load_corpus(cfg.data.source)
        self.p = p = Pipeline(cfg, corpus, out, rounds(cfg, out), force, progress)
        train, tune, val = len(p.train_qids), len(p.tune_qids), len(p.val_qids)
        sizes = f"{len(corpus.queries)} queries, {len(corpus.passages)} passages"
        self.record("data", t0, "loaded", f"{sizes}, {train} train / {tune} tuning / {val} validation")
        # the vocabulary (`Pipeline.vocab`): cheap, so always made; its fingerprint keys the rounds
        t0 = time.time()
        oov = p.vocab.oov_rate(corpus.queries.text)
        detail = f"{len(p.vocab)} words, fingerprint {p.vocab.fingerprint()}, OOV rate {oov:.2%}"
        self.record("vocab", t0, "made", detail + " of query tokens")

    def train_stage(self, names: list[str], jobs: int = 1) -> None:
        """Train the rounds `names` unless up to date, `jobs` at a time."""
        t0, trained = time.time(), self.p.train(names, jobs)
        detail = "  ".join(f"{n} val MRR@10 {self.p.checkpoints[n].meta['val']['mrr@10']}" for n in names)
        self.record(f"train {' + '.join(names)}", t0, any(trained.values()), detail)

    def mine_stage(self) -> None:
        t0, (_, fresh) = time.time(), self.p.mine(HARD)
        self.record("mine", t0, fresh, str(mining_stats(load_mined(self.p.rounds[HARD].mined)[0])))

    def index_stage(self, name: str, client) -> None:
        t0, c, corpus = time.time(), self.p.checkpoints[name], self.p.corpus
        pids, texts = list(corpus.passages.pid), corpus.texts()
        vectors, _ = ensure_vectors(c, texts, corpus.fingerprint(), self.p.progress)
        target = IndexTarget(name, c.fingerprint, c.path, pids, texts, corpus.fingerprint())
        made = ensure_index(
            client, c.encoder, target, force=self.p.force, progress=self.p.progress or False, vectors=vectors
        )
        self.vectors[name] = vectors
        rate = f", {made.added_per_s} vectors/s added" if made.built else ""
        self.record(f"index {name}", t0, made.built, f"{len(made.index)} vectors{rate}")

    def project_stage(self) -> None:
        """UMAP maps of the compared checkpoints, aligned, with the validation queries."""
        t0, p = time.time(), self.p
        models = [Embedded(n, c.fingerprint, c.encoder, self.vectors[n]) for n, c in self.compared().items()]
        (m, *_), built = ensure_projections(
            p.root, models, p.corpus, p.cfg.data.val_fraction, p.cfg.projection, force=p.force
        )
        detail = f"{len(m.rows)} passages + {len(m.query_ids)} queries, fit {m.fit_seconds}s"
        self.record(f"project {'+'.join(PREFERRED)}", t0, built, detail)

    def fuse_stage(self) -> None:
        """Each compared checkpoint's fusion weight with BM25, fitted on the tuning queries only."""
        t0, refit = time.time(), []
        for name, c in self.compared().items():
            if self.p.force or weight_for(self.p.root, c.fingerprint) is None:
                weight, table, n = self.p.fit_weight(name, self.vectors[name])
                save_weight(self.p.root, name, c.fingerprint, weight, table, n, self.p.fitted_on)
                refit.append(name)
        weights = "  ".join(f"hybrid:{n} weight {w['weight']}" for n, w in read_weights(self.p.root).items())
        self.record("fuse", t0, bool(refit), weights)

    def metrics_stage(self) -> None:
        """Validation metrics of the warm-up, both compared checkpoints, their hybrids and two baselines."""
        t0, d, path = time.time(), self.p.cfg.data, self.p.root / "metrics.json"
        fps = {n: c.fingerprint for n, c in self.p.checkpoints.items()}
        weights = read_weights(self.p.root)
        key = key_of(fps, self.p.corpus.fingerprint(), d.val_fraction, d.tune_fraction, weights, BM25_VERSION)
        fresh = self.p.force or read_json(path, {}).get("key") != key
        if fresh:
            corpora = read_json(path, {}).get("corpora", {})  # measured by `corpora_stage`: kept
            write_json(path, {**evaluate_all(self.p, key), "corpora": corpora})
        m = read_json(path)["models"]
        self.record("metrics", t0, fresh, "  ".join(f"{k} {v['full']['mrr@10']}" for k, v in m.items()))

    def corpora_stage(self) -> None:
        """Every ranker on each added corpus with judged queries, into metrics.json's `corpora`: the
        transfer lesson (MS MARCO-trained towers against BM25 on another domain), each also without
        the corpus's new words. A corpus measured elsewhere (not added here) keeps its figures."""
        t0, path, names = time.time(), self.p.root / "metrics.json", added(self.p.root)
        if not names:  # nothing added here: no stage
            return
        fps = {n: c.fingerprint for n, c in self.compared().items()}
        table, measured = read_json(path, {}).get("corpora", {}), []
        for name in names:
            corpus = open_corpus(name, self.p.root)
            key = key_of(fps, corpus.fingerprint(), read_weights(self.p.root), BM25_VERSION)
            if not corpus.judged or (table.get(name, {}).get("key") == key and not self.p.force):
                continue
            table[name] = {
                "key": key,
                "source": Path(corpus.source).name,
                "passages": len(corpus.passages),
                "models": new_corpus.evaluate(name, self.p.root),
                "without_new_words": new_corpus.evaluate(name, self.p.root, DENSE_MODELS, new_words=False),
            }
            measured.append(name)
        write_json(path, {**read_json(path, {}), "corpora": table})
        self.record("corpora", t0, bool(measured), " ".join(measured) or f"{len(table)} up to date")

    def compared(self) -> dict[str, Checkpoint]:
        return {n: self.p.checkpoints[n] for n in PREFERRED}


def build(
    cfg: Config,
    out: Path | None = None,
    force: bool = False,
    client=None,
    progress: Tally | None = None,
    log=print,
    jobs: int = 1,
) -> list[StageResult]:
    """Every stage in order, each skipped while its key matches; `progress` is told (done, in all) as
    long stages (training, mining, indexing) advance; the compared rounds train `jobs` at a time.
    `cfg` is a build's config as `core.pipeline.cli.build_config` makes it (checked there)."""
    run = _Build(log)
    run.load(cfg, Path(out or artifacts_dir()), force, progress)
    run.train_stage([WARMUP])
    run.mine_stage()
    run.train_stage(list(PREFERRED), jobs)
    client = client or chroma_client(run.p.root / "chroma")
    for name in PREFERRED:
        run.index_stage(name, client)
    run.project_stage()
    run.fuse_stage()
    run.metrics_stage()
    run.corpora_stage()
    return run.results


def evaluate_all(p: Pipeline, key: str) -> dict:
    """Validation metrics in every mode for every ranker of `METRIC_MODELS`, from the open handles."""
    models, seconds = {}, {}
    for name in METRIC_MODELS:
        t0 = time.time()
        models[name] = p.evaluate(p.ranker(name))
        seconds[name] = round(time.time() - t0, 2)
    cfg, corpus, weights = p.cfg, p.corpus, read_weights(p.root)
    return {
        "key": key,
        "split": {
            "val_fraction": cfg.data.val_fraction,
            "tune_fraction": cfg.data.tune_fraction,
            "val_queries": len(p.val_qids),
        },
        "design": {
            WARMUP: f"{cfg.train.epochs} epochs, random negatives, lr {cfg.train.lr}",
            "rounds": f"{cfg.round.epochs} epochs at lr {cfg.round.lr}, "
            f"{cfg.round.negatives_per_query} explicit negatives per query beside the in-batch ones",
            "differs": "the negatives: random ones for random, ones mined with the warm-up for hard",
        },
        "corpus": {
            "source": corpus.source,
            "fingerprint": corpus.fingerprint(),
            "queries": len(corpus.queries),
            "passages": len(corpus.passages),
        },
        "checkpoints": {c.name: c.fingerprint for c in p.checkpoints.values()},
        "hybrid_weights": {n: w["weight"] for n, w in weights.items()},
        "hybrid_fitted_on": {n: w.get("fitted_on") for n, w in weights.items()},
        "models": models,
        "eval_seconds": seconds,
    }


def summary_table(results: list[StageResult]) -> str:
    rows = [("stage", "status", "seconds", "detail")] + [
        (r.stage, r.status, f"{r.seconds:.1f}", r.detail) for r in results
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
    total = sum(r.seconds for r in results)
    return "\n".join(lines + [f"total {total:.1f}s"])
