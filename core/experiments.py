"""Experiments: each lever of the two-round recipe as a config change, both rounds trained and scored
on the validation split, one table (`python -m core experiments` -> `docs/experiments.md` and
`artifacts/experiments.json`).

A variant is a name, what it tests, and overrides of the build's default `Config` ("section.field":
value). Its result is stored under `artifacts/experiments/results/NAME.json` with the key of its
resolved config and the corpus, so a rerun trains only variants that are new or changed; the
checkpoints themselves stay under `artifacts/experiments/` (not committed). Mining uses an exact
index (no Chroma): the same `mine_round` as the build.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.artifacts import key_of, read_json, write_json, write_text
from core.bm25 import BM25
from core.config import BuildConfig, Config
from core.data import Corpus, split_queries
from core.evaluate import DenseRanker, IREvaluator
from core.hybrid import HybridRanker, fit_on_corpus
from core.index import ExactIndex
from core.vocab import Vocab


@dataclass(frozen=True)
class Variant:
    name: str
    tests: str  # the lever, in a few words
    overrides: dict = field(default_factory=dict)


# The recipe before these experiments, every lever at its old value: each variant is this plus its
# own changes, so changing the build's defaults (the chosen recipe) leaves the stored rows valid.
PREVIOUS = {
    "model.lexical_dim": 0,
    "vocab.keep_oov": False,
    "model.freeze_embeddings": True,
    "train.batch_size": 64,
    "model.layers": 1,
    "data.passage_len": 128,
    "build.file_negatives": False,
    "build.bm25_negatives": 0,
    "build.mine_skip": 0,
    "build.drop_above_positive": False,
    "build.hard_epochs": 3,
    "build.hard_lr": 1e-3,
}


def variant(name: str, tests: str, **changes) -> Variant:
    return Variant(name, tests, {**PREVIOUS, **{k.replace("__", "."): v for k, v in changes.items()}})


LEXICAL = {"model__lexical_dim": 512, "vocab__keep_oov": True}
TRAINABLE = {**LEXICAL, "model__freeze_embeddings": False}

FILE_NEGATIVES = {**TRAINABLE, "build__file_negatives": True}

VARIANTS = (
    variant("previous", "the previous recipe (frozen GloVe, BiGRU-128, in-batch softmax, batch 64)"),
    variant(
        "lexical-oov",
        "previous + learned term weights hashed into 512 buckets, and ids for corpus "
        "words without a GloVe vector",
        **LEXICAL,
    ),
    variant("trainable", "lexical-oov + trainable word vectors (learning rate 2e-4)", **TRAINABLE),
    variant(
        "batch-256",
        "trainable + batches of 256 (4x the in-batch negatives)",
        **TRAINABLE,
        train__batch_size=256,
    ),
    variant(
        "file-negatives",
        "trainable + the data's own negatives (train_extra's official BM25-mined ones) "
        "mixed into the hard round",
        **FILE_NEGATIVES,
    ),
    variant(
        "no-false-negatives",
        "file-negatives + mining drops passages scored above the positive",
        **FILE_NEGATIVES,
        build__drop_above_positive=True,
    ),
    variant(
        "hard-5-epochs",
        "file-negatives + a hard round of 5 epochs instead of 3",
        **FILE_NEGATIVES,
        build__hard_epochs=5,
    ),
    variant(
        "longer-hard", "trainable + a hard round of 5 epochs instead of 3", **TRAINABLE, build__hard_epochs=5
    ),
    variant(
        "longer-hard-lr",
        "longer-hard at the random round's learning rate (2e-3 instead of 1e-3)",
        **TRAINABLE,
        build__hard_epochs=5,
        build__hard_lr=2e-3,
    ),
)


def resolve(base: Config, overrides: dict) -> Config:
    cfg = copy.deepcopy(base)
    for dotted, value in overrides.items():
        try:
            cfg.set(dotted, value)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return cfg


def evaluate_round(ranker, corpus: Corpus, val_qids: list[str]) -> dict:
    """Validation metrics of a ranker in both modes, without the corpus size."""
    metrics = IREvaluator.from_corpus(corpus, val_qids)(ranker)
    return {mode: {k: v for k, v in m.items() if k != "corpus"} for mode, m in metrics.items()}


def run_variant(variant: Variant, base: Config, corpus: Corpus, root: Path, progress: bool = True) -> dict:
    """Train both rounds of one variant under `root/NAME/` and score them on validation."""
    from core.build import stage_configs, train_round
    from core.mining import mine_file

    cfg = resolve(base, variant.overrides)
    out = root / variant.name
    train_qids, val_qids = split_queries(corpus, cfg.data.val_fraction)
    vocab = Vocab.for_config([*corpus.passages.text, *corpus.queries.text], cfg.vocab)
    shared = copy.deepcopy(cfg)  # variants that differ only in the hard round share one random round
    shared.build, shared.train.threads = BuildConfig(), 0
    random_dir = root / "random-rounds" / key_of(shared.to_dict(), corpus.fingerprint())
    configs = stage_configs(cfg, random_dir / "model.pt", out / "mined.json")
    t0 = time.time()
    random_ckpt, _ = train_round(configs["random"], corpus, vocab, random_dir, progress=progress)
    index = ExactIndex()
    index.add(list(corpus.passages.pid), random_ckpt.encoder.encode_passages(list(corpus.passages.text)))
    mine_key, _ = mine_file(cfg, corpus, random_ckpt, index, out / "mined.json", progress=progress)
    hard_ckpt, _ = train_round(configs["hard"], corpus, vocab, out / "hard", mine_key, progress=progress)
    seconds = round(time.time() - t0, 1)
    weight, _, _ = fit_on_corpus(hard_ckpt.encoder, corpus, train_qids)
    hard = DenseRanker(hard_ckpt.encoder)
    result = {
        "name": variant.name,
        "tests": variant.tests,
        "overrides": variant.overrides,
        "random": evaluate_round(DenseRanker(random_ckpt.encoder), corpus, val_qids),
        "hard": evaluate_round(hard, corpus, val_qids),
        "hybrid:hard": {
            "weight": weight,
            **evaluate_round(HybridRanker(hard, weight, BM25()), corpus, val_qids),
        },
    }
    logs = [read_json(ckpt.path.parent / "log.json") for ckpt in (random_ckpt, hard_ckpt)]
    speeds = [e["triplets_per_s"] for log in logs for e in log["epochs"] if "triplets_per_s" in e]
    result["training"] = {
        "seconds": seconds,
        "train_seconds": [log["seconds"] for log in logs],
        "triplets_per_s": round(sum(speeds) / len(speeds), 1),
        "checkpoints": {"random": random_ckpt.fingerprint, "hard": hard_ckpt.fingerprint},
    }
    return result


def run(
    base: Config,
    corpus: Corpus,
    artifacts: Path,
    only: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    log=print,
) -> list[dict]:
    """Run every variant whose stored result is missing or stale (or those named in `only`), then
    write the table. Returns every result, in the order of `VARIANTS`."""
    root = artifacts / "experiments"
    names = [v.name for v in VARIANTS]
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ValueError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(names)}")
    results = []
    for variant in VARIANTS:
        path = root / "results" / f"{variant.name}.json"
        cfg = resolve(base, variant.overrides)
        cfg.train.threads = 0  # how many threads trained it does not change the result's key
        key = key_of(cfg.to_dict(), corpus.fingerprint())
        stored = read_json(path, {})
        wanted = only is None or variant.name in only
        if wanted and (force or stored.get("key") != key):
            log(f"[experiment {variant.name}] {variant.tests}")
            stored = {"key": key, **run_variant(variant, base, corpus, root, progress)}
            write_json(path, stored)
        if stored.get("key") == key:
            results.append(
                {
                    **stored,
                    "tests": variant.tests,
                    "overrides": variant.overrides,
                    "default": resolve(base, variant.overrides).to_dict() == base.to_dict(),
                }
            )
    write_json(
        artifacts / "experiments.json",
        {"corpus": {"source": corpus.source, "fingerprint": corpus.fingerprint()}, "variants": results},
    )
    return results


def markdown(results: list[dict], corpus: Corpus) -> str:
    """The results table: validation full-corpus and rerank figures of both rounds and the hybrid."""

    def f(x):
        return "–" if x is None else f"{x:.3f}"

    val = results[0]["hard"]["full"]["queries"] if results else 0
    lines = [
        "# Experiments",
        "",
        f"Regenerated by `python -m core experiments` (only new or changed variants are trained). "
        f"Validation split: {val:,} queries, each ranking all {len(corpus.passages):,} passages (*full*); "
        "*rerank* orders each query's own candidate list "
        f"({results[0]['hard']['rerank']['queries']:,} queries with two or more candidates)."
        if results
        else "",
        "Every row trains both rounds (random negatives, then hard negatives mined with the first) on the "
        "training split; the hybrid fuses the hard checkpoint with BM25, its weight fitted on 1,000 "
        "training queries. *triplets/s* and *training minutes* (both rounds) come from the training logs: "
        "experiments ran two at a time on the 2-core machine, one torch thread each, beside other work, so "
        "they are slow and only comparable with each other.",
        "",
        "| variant | what it tests | random full MRR@10 | hard full MRR@10 | hard R@1 | hard R@10 "
        "| hard rerank MRR@10 | hybrid:hard full / rerank MRR@10 | triplets/s | training minutes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        h, hy = r["hard"], r["hybrid:hard"]
        name = f"**{r['name']}** (the build's defaults)" if r.get("default") else r["name"]
        lines.append(
            f"| {name} | {r['tests']} | {f(r['random']['full']['mrr@10'])} | "
            f"**{f(h['full']['mrr@10'])}** | {f(h['full']['recall@1'])} | {f(h['full']['recall@10'])} | "
            f"{f(h['rerank']['mrr@10'])} | {f(hy['full']['mrr@10'])} / {f(hy['rerank']['mrr@10'])} "
            f"(w {hy['weight']}) | {r['training']['triplets_per_s']:,.0f} | "
            f"{sum(r['training']['train_seconds']) / 60:.1f} |"
        )
    lines += ["", "Settings of each variant (overrides of the build's defaults):", ""]
    lines += [f"- **{r['name']}**: `{r['overrides']}`" for r in results]
    return "\n".join(lines) + "\n"


def write_report(results: list[dict], corpus: Corpus, docs: Path) -> None:
    write_text(docs / "experiments.md", markdown(results, corpus))
