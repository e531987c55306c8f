"""The pipeline, one command: vocabulary -> warm-up checkpoint -> mining with it -> two rounds that
continue it and differ only in their negatives (random, hard) -> indexes -> maps -> fusion weights ->
metrics. Stages hand off through files in `artifacts/`; each stage records a key of its inputs and is
skipped while that key still matches.

The comparison the app teaches is controlled: `random` and `hard` start from the same warm-up
checkpoint (trained with the `train` settings) and train with the same `round` settings (epochs,
learning rate, schedule, batch size, queries); only where each triplet's explicit negative comes from
differs (drawn at random, or mined with the warm-up checkpoint), passed to each round explicitly
(`core.training.rounds`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core.analysis.projection import Embedded, ensure_projections
from core.common.artifacts import MINED, PREFERRED, WARMUP, artifacts_dir, key_of, read_json, write_json
from core.common.config import Config
from core.common.types import Tally
from core.data.corpora import added, load_corpus, open_corpus
from core.data.corpus import Corpus, split_queries
from core.data.triplets import load_mined
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.model.passages import ensure_vectors
from core.pipeline import new_corpus
from core.retrieval.bm25 import BM25, BM25_VERSION
from core.retrieval.evaluate import IREvaluator
from core.retrieval.hybrid import (
    fit_on_corpus,
    fitting_queries,
    read_weights,
    save_weight,
    weight_for,
)
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.registry import METRIC_MODELS, Setting, make
from core.retrieval.vectors import IndexTarget
from core.training.mining import mine_file, mining_index, mining_stats
from core.training.rounds import round_config, train_rounds, warmup_config

DENSE_MODELS = (*PREFERRED, *(f"hybrid:{n}" for n in PREFERRED))  # what a corpus's new words change


@dataclass
class StageResult:
    stage: str
    status: str  # "built", "up to date" (skipped), "loaded" or "made"
    seconds: float
    detail: str = ""


class _Run:
    """One build's shared state and its stage log: the corpus, split, vocabulary and open checkpoints
    that later stages reuse."""

    def __init__(self, cfg: Config, out: Path, force: bool, progress: Tally | None, log):
        self.cfg, self.out, self.force, self.progress, self.log = cfg, out, force, progress, log
        self.results: list[StageResult] = []
        self.checkpoints: dict[str, Checkpoint] = {}  # each opened once, after its training stage
        self.vectors: dict = {}

    def record(self, stage: str, t0: float, built: bool | str, detail: str = "") -> None:
        status = built if isinstance(built, str) else "built" if built else "up to date"
        self.results.append(StageResult(stage, status, round(time.time() - t0, 1), detail))
        self.log(f"[{stage}] {status} in {time.time() - t0:.1f}s {detail}")

    def load(self) -> None:
        t0, d = time.time(), self.cfg.data
        self.corpus = load_corpus(d.source)
        self.train_qids, self.val_qids = split_queries(self.corpus, d.val_fraction, d.tune_fraction)
        self.fitted_on, self.tune_qids = fitting_queries(self.corpus, d.val_fraction, d.tune_fraction)
        train, tune, val = len(self.train_qids), len(self.tune_qids), len(self.val_qids)
        sizes = f"{len(self.corpus.queries)} queries, {len(self.corpus.passages)} passages"
        self.record("data", t0, "loaded", f"{sizes}, {train} train / {tune} tuning / {val} validation")
        # the corpus's words plus the most frequent GloVe words: cheap, so always made; its fingerprint
        # (with the tokeniser's version) keys the training stages
        t0 = time.time()
        texts = [*self.corpus.texts(), *self.corpus.queries.text]
        self.vocab = Vocab.for_config(texts, self.cfg.vocab)
        oov = self.vocab.oov_rate(self.corpus.queries.text)
        detail = f"{len(self.vocab)} words, fingerprint {self.vocab.fingerprint()}, OOV rate {oov:.2%}"
        self.record("vocab", t0, "made", detail + " of query tokens")

    def train_stage(self, rounds: dict[str, tuple[Config, str]], jobs: int = 1) -> None:
        """Train `rounds` (name -> (config, inputs key)) unless up to date, `jobs` at a time."""
        t0, todo = time.time(), {n: (c, self.out / n, key) for n, (c, key) in rounds.items()}
        trained = train_rounds(todo, self.corpus, self.vocab, self.force, jobs, progress=self.progress)
        self.checkpoints.update({n: c for n, (c, _) in trained.items()})
        detail = "  ".join(f"{n} val MRR@10 {c.meta['val']['mrr@10']}" for n, (c, _) in trained.items())
        self.record(f"train {' + '.join(rounds)}", t0, any(fresh for _, fresh in trained.values()), detail)

    def mine_stage(self, mined_path: Path) -> str:
        t0, warmup = time.time(), self.checkpoints[WARMUP]
        index = mining_index(warmup, self.corpus)
        key, fresh = mine_file(self.cfg, self.corpus, warmup, index, mined_path, self.force, self.progress)
        self.record("mine", t0, fresh, str(mining_stats(load_mined(mined_path)[0])))
        return key

    def index_stage(self, name: str, client) -> None:
        t0, c = time.time(), self.checkpoints[name]
        pids, texts = list(self.corpus.passages.pid), self.corpus.texts()
        vectors, _ = ensure_vectors(c, texts, self.corpus.fingerprint(), self.progress)
        target = IndexTarget(name, c.fingerprint, c.path, pids, texts, self.corpus.fingerprint())
        made = ensure_index(
            client, c.encoder, target, force=self.force, progress=self.progress or False, vectors=vectors
        )
        self.vectors[name] = vectors
        rate = f", {made.added_per_s} vectors/s added" if made.built else ""
        self.record(f"index {name}", t0, made.built, f"{len(made.index)} vectors{rate}")

    def project_stage(self) -> None:
        """UMAP maps (2-D and 3-D) of the compared checkpoints, aligned, with the validation queries."""
        t0, d = time.time(), self.cfg.data
        models = [Embedded(n, c.fingerprint, c.encoder, self.vectors[n]) for n, c in self.compared().items()]
        fitted = [
            ensure_projections(
                self.out, models, self.corpus, d.val_fraction, self.cfg.projection, dims, force=self.force
            )
            for dims in (2, 3)
        ]
        detail = "  ".join(
            f"{m.dims}-D {len(m.rows)} passages + {len(m.query_ids)} queries, fit {m.fit_seconds}s"
            for (m, *_), _ in fitted
        )
        self.record(f"project {'+'.join(PREFERRED)}", t0, any(built for _, built in fitted), detail)

    def fuse_stage(self) -> None:
        """Each compared checkpoint's fusion weight with BM25, fitted on the tuning queries only."""
        t0, bm25, refit = time.time(), None, []
        for name, c in self.compared().items():
            if self.force or weight_for(self.out, c.fingerprint) is None:
                texts, pids = self.corpus.texts(), list(self.corpus.passages.pid)
                bm25 = bm25 or BM25().fit(texts, pids)
                weight, table, n = fit_on_corpus(
                    c.encoder, self.corpus, self.tune_qids, passage_vectors=self.vectors[name], bm25=bm25
                )
                save_weight(self.out, name, c.fingerprint, weight, table, n, self.fitted_on)
                refit.append(name)
        weights = "  ".join(f"hybrid:{n} weight {w['weight']}" for n, w in read_weights(self.out).items())
        self.record("fuse", t0, bool(refit), weights)

    def metrics_stage(self) -> None:
        """Validation metrics of the warm-up, both compared checkpoints, their hybrids and two baselines."""
        t0, d = time.time(), self.cfg.data
        path = self.out / "metrics.json"
        fps = {n: c.fingerprint for n, c in self.checkpoints.items()}
        key = key_of(
            fps,
            self.corpus.fingerprint(),
            d.val_fraction,
            d.tune_fraction,
            read_weights(self.out),
            BM25_VERSION,
        )
        fresh = self.force or read_json(path, {}).get("key") != key
        if fresh:
            corpora = read_json(path, {}).get("corpora", {})  # measured by `corpora_stage`: kept
            metrics = evaluate_all(self.corpus, self.val_qids, self.out, self.cfg, key, self.checkpoints)
            write_json(path, {**metrics, "corpora": corpora})
        m = read_json(path)["models"]
        self.record("metrics", t0, fresh, "  ".join(f"{k} {v['full']['mrr@10']}" for k, v in m.items()))

    def corpora_stage(self) -> None:
        """Every ranker on each added corpus with judged queries, into metrics.json's `corpora`: the
        transfer lesson (MS MARCO-trained towers against BM25 on another domain), each also without
        the corpus's new words. A corpus measured elsewhere (not added here) keeps its figures."""
        t0, path, names = time.time(), self.out / "metrics.json", added(self.out)
        if not names:  # nothing added here: no stage
            return
        fps = {n: c.fingerprint for n, c in self.compared().items()}
        table, measured = read_json(path, {}).get("corpora", {}), []
        for name in names:
            corpus = open_corpus(name, self.out)
            key = key_of(fps, corpus.fingerprint(), read_weights(self.out), BM25_VERSION)
            if not corpus.judged or (table.get(name, {}).get("key") == key and not self.force):
                continue
            table[name] = {
                "key": key,
                "source": Path(corpus.source).name,
                "passages": len(corpus.passages),
                "models": new_corpus.evaluate(name, self.out),
                "without_new_words": new_corpus.evaluate(name, self.out, DENSE_MODELS, new_words=False),
            }
            measured.append(name)
        write_json(path, {**read_json(path, {}), "corpora": table})
        self.record("corpora", t0, bool(measured), " ".join(measured) or f"{len(table)} up to date")

    def compared(self) -> dict[str, Checkpoint]:
        return {n: self.checkpoints[n] for n in PREFERRED}


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
    run = _Run(cfg, Path(out or artifacts_dir()), force, progress, log)
    run.load()
    mined, warmup = run.out / MINED, run.out / WARMUP / "model.pt"
    run.train_stage({WARMUP: (warmup_config(cfg), "")})
    mine_key = run.mine_stage(mined)
    warmup_key = run.checkpoints["warmup"].fingerprint
    random, hard = PREFERRED  # each round named by its negatives
    compared = {
        random: (round_config(cfg, random, warmup), warmup_key),
        hard: (round_config(cfg, hard, warmup, mined), key_of(warmup_key, mine_key)),
    }
    run.train_stage(compared, jobs)
    client = client or chroma_client(run.out / "chroma")
    for name in PREFERRED:
        run.index_stage(name, client)
    run.project_stage()
    run.fuse_stage()
    run.metrics_stage()
    run.corpora_stage()
    return run.results


def evaluate_all(
    corpus: Corpus, val_qids: list[str], out: Path, cfg: Config, key: str, checkpoints: dict[str, Checkpoint]
) -> dict:
    """Validation metrics in every mode for every ranker of `METRIC_MODELS`, from the open handles."""
    evaluator = IREvaluator.from_corpus(corpus, val_qids)
    models, seconds, setting = {}, {}, Setting(out, cfg.vocab.glove, checkpoints=checkpoints)
    for name in METRIC_MODELS:
        t0 = time.time()
        models[name] = evaluator(make(name, setting))
        seconds[name] = round(time.time() - t0, 2)
    d = cfg.data
    return {
        "key": key,
        "split": {
            "val_fraction": d.val_fraction,
            "tune_fraction": d.tune_fraction,
            "val_queries": len(val_qids),
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
        "checkpoints": {c.name: c.fingerprint for c in checkpoints.values()},
        "hybrid_weights": {n: w["weight"] for n, w in read_weights(out).items()},
        "hybrid_fitted_on": {n: w.get("fitted_on") for n, w in read_weights(out).items()},
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
