"""Experiments: each lever of the hard-negative round, and each tower, against an equal-budget
control, in tables (`python -m core experiments` -> `docs/experiments.md` and
`artifacts/experiments.json`).

An *arm* (`core.pipeline.arms`) continues a checkpoint (the build's warm-up, or another arm's result)
with the build's `round` settings (`--round-epochs`, `--round-lr`...) and one kind of negatives, or
trains from scratch with the `train` settings as the warm-up does. An experiment is a build with
overrides: each arm is a round of the build's driver (`core.pipeline.driver.Pipeline`), the arm's
overrides over the build's config and its negatives, scored on the validation split. An arm with a
`control` is compared against that arm: the same start, epochs, learning rate, schedule, batch size,
queries and number of explicit negatives, so the difference is the lever alone. A result is stored
under `artifacts/experiments/results/NAME.json` with the key of its inputs, so a rerun trains only
arms that are new or changed; checkpoints stay under `artifacts/experiments/` (not committed). Mining
uses an exact index (no Chroma), through the same driver as the build.
"""

from __future__ import annotations

import time
from pathlib import Path

from core.common.artifacts import kept_sections, key_of, read_json, write_json, write_text
from core.common.config import Config
from core.common.types import Tally
from core.data.corpus import Corpus
from core.pipeline.arms import ARMS, BY_NAME, TOWER_BUDGET, WARMUP, Arm, result_path
from core.pipeline.driver import Pipeline, Round, resolve
from core.retrieval.hybrid import Hybrid
from core.retrieval.lexical import Lexical
from core.training.rounds import pretrain_config, round_config, trained_with, warmup_config

PSEUDO = "-pseudo"  # a pretrained arm's first round, on pseudo-queries alone: NAME-pseudo


def arm_key(base: Config, arm: Arm, corpus_fingerprint: str) -> str:
    """What an arm's result depends on, as resolved settings (never the config's layout). From scratch:
    what it trains with (`trained_with`, as a build round's key). Continuing a checkpoint: what its
    round trains with, its negatives and, when it mines, the mining settings; its start (the warm-up's
    training settings, or that arm's key, recursively). Both: the vocabulary settings and the corpus."""
    cfg = resolve(base, arm.overrides)
    if arm.start is None:
        pretrained = (trained_with(pretrain_config(cfg)),) if arm.pretrain else ()
        return key_of(*pretrained, trained_with(warmup_config(cfg)), cfg.vocab, corpus_fingerprint)
    start = (
        trained_with(warmup_config(base))
        if arm.start == WARMUP
        else arm_key(base, BY_NAME[arm.start], corpus_fingerprint)
    )
    round_cfg = round_config(cfg, arm.negatives, "start", "mined")
    mining = cfg.build.mining() if arm.negatives == "hard" else None
    return key_of(start, trained_with(round_cfg), arm.negatives, mining, cfg.vocab, corpus_fingerprint)


def run(
    base: Config,
    corpus: Corpus,
    artifacts: Path,
    only: list[str] | None = None,
    force: bool = False,
    progress: Tally | None = None,
    log=print,
) -> list[dict]:
    """Run every arm whose stored result is missing or stale (or those named in `only`), then write
    the table. Returns every stored result, in the order of `ARMS`."""
    unknown = sorted(set(only or []) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    root = artifacts / "experiments"
    driver = Pipeline(base, corpus, root, arm_rounds(base, root), progress=progress)
    results = []
    for arm in ARMS:
        path = result_path(artifacts, arm.name)
        key, stored = arm_key(base, arm, corpus.fingerprint()), read_json(path, {})
        if (only is None or arm.name in only) and (force or stored.get("key") != key):
            log(f"[experiment {arm.name}] {arm.tests}")
            stored = {"key": key, **score(driver, arm.name)}
            write_json(path, stored)
        if stored.get("key") == key:
            results.append({**stored, "tests": arm.tests, "control": arm.control, "start": arm.start})
    write_json(
        artifacts / "experiments.json",
        {"corpus": {"source": corpus.source, "fingerprint": corpus.fingerprint()}, "arms": results},
    )
    return results


def arm_rounds(base: Config, root: Path) -> dict[str, Round]:
    """Every arm as a round of the driver, beside the build's warm-up they continue: the arm's
    overrides of `base`, its start and negatives, hard ones mined into `root/mined/NAME.json`."""
    arms = {
        a.name: Round(resolve(base, a.overrides), a.start, a.negatives, root / "mined" / f"{a.name}.json")
        for a in ARMS
    }
    for a in (a for a in ARMS if a.pretrain):  # its pretraining first, then the warm-up continuing it
        cfg = resolve(base, a.overrides)
        arms[f"{a.name}{PSEUDO}"] = Round(cfg, settings="pretrain")
        arms[a.name] = Round(cfg, f"{a.name}{PSEUDO}", settings="train")
    return {WARMUP: Round(base), **arms}


def score(driver: Pipeline, name: str) -> dict:
    """Arm `name` trained where missing or stale (its start first) and measured: its dense ranker on
    the validation and tuning queries, its hybrid with BM25 (the weight fitted on the tuning ones),
    its training (seconds, triplets/s) and encoding speeds."""
    t0 = time.time()
    driver.train([name])
    seconds = round(time.time() - t0, 1)
    ckpt, dense = driver.checkpoints[name], driver.ranker(name)
    weight, _, _ = driver.fit_weight(name)
    log = read_json(ckpt.path.parent / "log.json")
    speeds = [e["triplets_per_s"] for e in log["epochs"] if "triplets_per_s" in e]
    encoding = encoding_rate(ckpt.encoder, driver.corpus.texts())
    return {
        "name": name,
        "dense": _measured(driver.evaluate(dense)),
        "tuning": _measured(driver.evaluate(dense, "tuning")),  # what a recipe is chosen by
        "hybrid": {
            "weight": weight,
            "fitted_on": driver.fitted_on,
            **_measured(driver.evaluate(Hybrid(dense, Lexical(), weight))),
        },
        "training": {
            "seconds": seconds,
            "train_seconds": log["seconds"],
            "triplets_per_s": round(sum(speeds) / max(len(speeds), 1), 1),
            "checkpoint": ckpt.fingerprint,
        },
        "encoding": encoding,
    }


def _measured(metrics: dict) -> dict:
    """Metrics in every mode, without the corpus size."""
    return {mode: {k: v for k, v in m.items() if k != "corpus"} for mode, m in metrics.items()}


def encoding_rate(encoder, texts: list[str]) -> dict:
    """How fast the checkpoint's encoder encodes these passages (tokenising included): warmed up on 256,
    then timed once over all of them, as the benchmark times a checkpoint."""
    encoder.encode_passages(texts[:256])
    t0 = time.perf_counter()
    encoder.encode_passages(texts)
    seconds = time.perf_counter() - t0
    per_s = round(len(texts) / seconds, 1)
    return {
        "passages": len(texts),
        "seconds": round(seconds, 2),
        "passages_per_s": per_s,
        "workers": encoder.workers,
    }


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def _gain(a, b) -> str:
    return "–" if a is None or b is None else f"{a - b:+.3f}"


def _scores(r: dict, by_name: dict) -> str:
    """An arm's measured cells, its gains over its control's: full MRR@10, gain, BM25-hard MRR@10, gain,
    R@10, tuning full gain, hybrid."""
    d, h = r["dense"], r["hybrid"]
    control = by_name.get(r.get("control") or "", {})
    c, ct = control.get("dense", {}), control.get("tuning", {})
    full, hard = d["full"]["mrr@10"], d["bm25_hard"]["mrr@10"]
    cfull, chard = c.get("full", {}).get("mrr@10"), c.get("bm25_hard", {}).get("mrr@10")
    tuning = _gain(r["tuning"]["full"]["mrr@10"], ct.get("full", {}).get("mrr@10"))
    return (
        f"{_f(full)} | {_gain(full, cfull)} | {_f(hard)} | {_gain(hard, chard)} | "
        f"{_f(d['full']['recall@10'])} | {tuning} "
        f"| {_f(h['full']['mrr@10'])} / {_f(h['bm25_hard']['mrr@10'])} (w {h['weight']})"
    )


SCORES = (
    "full MRR@10 | gain | BM25-hard MRR@10 | gain | R@10 | tuning full gain | hybrid full / BM25-hard (w)"
)


def markdown(results: list[dict], corpus: Corpus) -> str:
    """The tables: each arm's validation full and BM25-hard MRR@10 beside its control's, the gain, and
    its hybrid with BM25; the arms continuing a checkpoint first, then those trained from scratch (the
    towers), with their training and encoding speeds."""
    by_name = {r["name"]: r for r in results}
    first = results[0]["dense"] if results else {}
    queries = first.get("full", {}).get("queries", 0), first.get("bm25_hard", {}).get("queries", 0)
    lines = [
        "# Experiments",
        "",
        "Regenerated by `python -m core experiments` (only new or changed arms are trained). Each arm of "
        "the first table continues a checkpoint (the build's warm-up, or the arm named in *start*) for the "
        "build's round (5 epochs at 2e-3, cosine schedule, batch 64, in-batch softmax, 4 explicit negatives "
        "per query unless an arm's settings say 1) with one kind of negatives. Its "
        "*control* differs from it in the negatives alone: the same start, epochs, learning rate, schedule, "
        "batch size, queries and number of explicit negatives per query, so *gain* is what the lever adds.",
        "",
        f"Validation: {queries[0]:,} queries never trained on, mined from or tuned on; *full* ranks all "
        f"{len(corpus.passages):,} passages; *BM25-hard* ranks each query's judged passage among the 20 best "
        f"other passages BM25 finds ({queries[1]:,} queries). The hybrid's weight is fitted on the tuning "
        "slice (neither training nor validation); the recipe is chosen by *tuning full gain*, the gain on "
        "those tuning queries, never by a validation figure. *Minutes*: the arm's training, one "
        "torch thread, beside other work (comparable only roughly).",
        "",
        f"| arm | what it tests | start | control | {SCORES} | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| **{r['name']}** | {r['tests']} | {r['start']} | {r.get('control') or '–'} | "
        f"{_scores(r, by_name)} | {r['training']['train_seconds'] / 60:.1f} |"
        for r in results
        if r["start"] is not None
    ]
    lines += scratch_table([r for r in results if r["start"] is None], by_name)
    missing = [a.name for a in ARMS if a.name not in by_name]
    if missing:
        lines += ["", f"Defined but not run yet (no stored result): {', '.join(missing)}."]
    lines += ["", "Settings of each arm (overrides of the build's defaults):", ""]
    lines += [
        f"- **{a.name}**: `{a.overrides or {}}`, negatives {a.negatives}" for a in ARMS if a.name in by_name
    ]
    return "\n".join(lines) + "\n"


def scratch_table(results: list[dict], by_name: dict) -> list[str]:
    """The towers' section: the arms trained from scratch at one budget, only the tower differing."""
    if not results:
        return []
    enc = results[0].get("encoding", {})
    rate = lambda r: r.get("encoding", {}).get("passages_per_s")  # noqa: E731
    return [
        "",
        "## Towers at equal budget",
        "",
        "Each arm here trains from scratch, as the build's warm-up does (in-batch softmax, 1 random "
        "negative per query beside the in-batch ones, lr 2e-3 after 50 warm-up steps then a cosine decay, "
        f"batch 64, every training query, seed 13), for {TOWER_BUDGET['train.epochs']} epochs "
        "(the warm-up's 4 halved to fit the CPU): the towers differ in the tower alone (recurrent ones "
        "bidirectional, 128 per direction, mean-pooled beside the mean word vector and the lexical path, "
        "as the build's). *Triplets/s*: training, one torch thread, the mean over epochs; *passages/s*: "
        f"encoding the {enc.get('passages', 0):,} passages once after training (tokenising included, "
        f"{enc.get('workers', '?')} worker threads of one torch thread); both measured beside other "
        "work on a shared machine (comparable only roughly). Reproduce: `python -m core experiments "
        f"--only {','.join(r['name'] for r in results)} --threads 1`.",
        "",
        f"| tower | what it tests | control | {SCORES} | triplets/s | passages/s | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| **{r['name']}** | {r['tests']} | {r.get('control') or '–'} | {_scores(r, by_name)} | "
            f"{r['training']['triplets_per_s']:,.0f} | {_speed(rate(r))} | "
            f"{r['training']['train_seconds'] / 60:.1f} |"
            for r in results
        ),
    ]


def _speed(x) -> str:
    return "–" if x is None else f"{x:,.0f}"


def write_report(results: list[dict], corpus: Corpus, docs: Path) -> None:
    """docs/experiments.md: the tables, then the sections other commands keep there (the adaptation's)."""
    text = markdown(results, corpus)
    write_text(docs / "experiments.md", text + kept_sections(docs / "experiments.md", text))
