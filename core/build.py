"""The pipeline, one command: vocabulary -> random-negative checkpoint -> index -> mining ->
hard-negative checkpoint -> index -> metrics. Stages hand off through files in `artifacts/`;
each stage records a key of its inputs and is skipped while that key still matches."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from pathlib import Path

from core.artifacts import CheckpointError, artifacts_dir, key_of, read_json, write_json
from core.bm25 import BM25
from core.config import Config
from core.data import Corpus, load_corpus, split_queries
from core.encoder import Checkpoint
from core.evaluate import IREvaluator
from core.hybrid import PREFIX, fit_on_corpus, read_weights, save_weight, weight_for
from core.index import chroma_client, ensure_index
from core.mining import mine_file, mining_stats
from core.projection import Embedded, ensure_projections
from core.rankers import METRIC_MODELS, make_ranker
from core.text import TOKENIZER_VERSION
from core.train import train
from core.triplets import load_mined
from core.vocab import Vocab


@dataclass
class StageResult:
    stage: str
    status: str  # "built", "up to date" (skipped), "loaded" or "made"
    seconds: float
    detail: str = ""


def _build_key(checkpoint: Checkpoint) -> str | None:
    try:
        return checkpoint.meta.get("build_key") if checkpoint.path.is_file() else None
    except CheckpointError:
        return None  # a corrupt checkpoint is rebuilt


def stage_configs(cfg: Config, random_ckpt: Path, mined: Path) -> dict[str, Config]:
    """The resolved training config of each round: the hard round reads the mined file and, by
    default, starts from the random checkpoint."""
    hard = copy.deepcopy(cfg)
    b = cfg.build
    hard.train.negatives, hard.train.hard_file = "hard", str(mined)
    hard.train.epochs, hard.train.lr, hard.train.random_mix = b.hard_epochs, b.hard_lr, b.hard_random_mix
    hard.train.init_from = str(random_ckpt) if b.hard_init == "random" else None
    random = copy.deepcopy(cfg)
    random.train.negatives, random.train.init_from = "random", None
    return {"random": random, "hard": hard}


def train_round(
    cfg: Config,
    corpus: Corpus,
    vocab: Vocab,
    out: Path,
    inputs_key: str = "",
    force: bool = False,
    progress: bool = True,
) -> tuple[Checkpoint, bool]:
    """Train `out/model.pt` unless its key (config, corpus, vocabulary, tokeniser, `inputs_key`) still
    matches: (the checkpoint, opened once for every later stage; whether it was trained). Paths are
    left out of the key (the fingerprints in `inputs_key` stand for what they point to), and so is
    the number of threads."""
    ckpt = Checkpoint(out.name, out / "model.pt")
    key = key_of(
        inputs_key,
        cfg.model,
        replace(cfg.train, hard_file=None, init_from=None, threads=0),
        replace(cfg.data, source=None),
        corpus.fingerprint(),
        vocab.fingerprint(),
        TOKENIZER_VERSION,
    )
    fresh = force or _build_key(ckpt) != key
    if fresh:
        train(cfg, corpus, vocab, out, progress=progress, extra_meta={"build_key": key})
        ckpt = Checkpoint(out.name, out / "model.pt")
    return ckpt, fresh


def build(
    cfg: Config, out: Path | None = None, force: bool = False, client=None, progress: bool = True, log=print
) -> list[StageResult]:
    out = Path(out or artifacts_dir())
    results: list[StageResult] = []

    def record(stage: str, t0: float, built: bool | str, detail: str = "") -> None:
        status = built if isinstance(built, str) else "built" if built else "up to date"
        results.append(StageResult(stage, status, round(time.time() - t0, 1), detail))
        log(f"[{stage}] {status} in {time.time() - t0:.1f}s {detail}")

    t0 = time.time()
    corpus = load_corpus(cfg.data.source)
    train_qids, val_qids = split_queries(corpus, cfg.data.val_fraction)
    record(
        "data",
        t0,
        "loaded",
        f"{len(corpus.queries)} queries, {len(corpus.passages)} passages, "
        f"{len(train_qids)} train / {len(val_qids)} validation",
    )

    # 1. vocabulary: the corpus's words plus the most frequent GloVe words. Cheap, so always made;
    #    its fingerprint (with the tokeniser's version) keys the training stages.
    t0 = time.time()
    vocab = Vocab.for_config([*corpus.passages.text, *corpus.queries.text], cfg.vocab)
    record(
        "vocab",
        t0,
        "made",
        f"{len(vocab)} words, fingerprint {vocab.fingerprint()}, "
        f"OOV rate {vocab.oov_rate(corpus.queries.text):.2%} of query tokens",
    )

    client = client or chroma_client(out / "chroma")
    mined_path = out / "mined" / "negatives.json"
    configs = stage_configs(cfg, out / "random" / "model.pt", mined_path)
    pids, texts = list(corpus.passages.pid), list(corpus.passages.text)
    checkpoints: dict[str, Checkpoint] = {}  # each opened once, after its training stage
    vectors = {}

    def train_stage(name: str, inputs_key: str) -> None:
        t0 = time.time()
        checkpoints[name], fresh = train_round(
            configs[name], corpus, vocab, out / name, inputs_key, force, progress
        )
        record(f"train {name}", t0, fresh, f"val MRR@10 {checkpoints[name].meta['val']['mrr@10']}")

    def index_stage(name: str):
        t0 = time.time()
        c = checkpoints[name]
        made = ensure_index(
            client,
            c.encoder,
            name,
            c.fingerprint,
            pids,
            texts,
            corpus.fingerprint(),
            force=force,
            progress=progress,
            path=c.path,
        )
        vectors[name] = made.passage_vectors(pids)
        record(
            f"index {name}",
            t0,
            made.built,
            f"{len(made.index)} vectors" + (f", {made.passages_per_s} passages/s" if made.built else ""),
        )
        return made.index

    # 2-3. random-negative round and its index
    train_stage("random", "")
    random_index = index_stage("random")

    # 4. hard negatives mined with the random checkpoint, for training queries only
    t0 = time.time()
    mine_key, fresh = mine_file(cfg, corpus, checkpoints["random"], random_index, mined_path, force, progress)
    record("mine", t0, fresh, str(mining_stats(load_mined(mined_path)[0])))

    # 5-6. hard-negative round and its index
    train_stage("hard", mine_key)
    index_stage("hard")

    # 6b. UMAP maps (2-D and 3-D) of both checkpoints, aligned, with the validation queries, for the app
    t0 = time.time()
    models = [Embedded(c.name, c.fingerprint, c.encoder, vectors[c.name]) for c in checkpoints.values()]
    fitted = [
        ensure_projections(out, models, corpus, cfg.data.val_fraction, cfg.projection, dims, force=force)
        for dims in (2, 3)
    ]
    record(
        f"project {'+'.join(checkpoints)}",
        t0,
        any(built for _, built in fitted),
        "  ".join(
            f"{maps[0].dims}-D {len(maps[0].rows)} passages + {len(maps[0].query_ids)} queries, "
            f"fit {maps[0].fit_seconds}s"
            for maps, _ in fitted
        ),
    )

    # 7. the fusion weight of each checkpoint with BM25, fitted on training queries only
    t0 = time.time()
    bm25, refit = None, []
    for c in checkpoints.values():
        if force or weight_for(out, c.fingerprint) is None:
            bm25 = bm25 or BM25().fit(texts, pids)
            weight, table, n = fit_on_corpus(
                c.encoder, corpus, train_qids, passage_vectors=vectors[c.name], bm25=bm25
            )
            save_weight(out, c.name, c.fingerprint, weight, table, n)
            refit.append(c.name)
    record(
        "fuse",
        t0,
        bool(refit),
        "  ".join(f"hybrid:{n} weight {w['weight']}" for n, w in read_weights(out).items()),
    )

    # 8. metrics of both checkpoints, their hybrids and the two baselines on the validation split
    t0 = time.time()
    metrics_path = out / "metrics.json"
    fps = {c.name: c.fingerprint for c in checkpoints.values()}
    metrics_key = key_of(fps, corpus.fingerprint(), cfg.data.val_fraction, read_weights(out))
    fresh = force or read_json(metrics_path, {}).get("key") != metrics_key
    if fresh:
        write_json(metrics_path, evaluate_all(corpus, val_qids, out, cfg, metrics_key, checkpoints))
    m = read_json(metrics_path)["models"]
    record("metrics", t0, fresh, "  ".join(f"{k} {v['full']['mrr@10']}" for k, v in m.items()))
    return results


def evaluate_all(
    corpus: Corpus, val_qids: list[str], out: Path, cfg: Config, key: str, checkpoints: dict[str, Checkpoint]
) -> dict:
    """Validation metrics in both modes for every ranker of `METRIC_MODELS`, from the open handles."""
    evaluator = IREvaluator.from_corpus(corpus, val_qids)
    models, seconds = {}, {}
    for name in METRIC_MODELS:
        t0 = time.time()
        ranker = make_ranker(
            name, out, cfg.vocab.glove, checkpoint=checkpoints.get(name.removeprefix(PREFIX))
        )
        models[name] = evaluator(ranker)
        seconds[name] = round(time.time() - t0, 2)
    return {
        "key": key,
        "split": {"val_fraction": cfg.data.val_fraction, "val_queries": len(val_qids)},
        "corpus": {
            "source": corpus.source,
            "fingerprint": corpus.fingerprint(),
            "queries": len(corpus.queries),
            "passages": len(corpus.passages),
        },
        "checkpoints": {c.name: c.fingerprint for c in checkpoints.values()},
        "hybrid_weights": {n: w["weight"] for n, w in read_weights(out).items()},
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
