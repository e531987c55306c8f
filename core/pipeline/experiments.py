"""Experiments: each lever of the hard-negative round against an equal-budget control, one table
(`python -m core experiments` -> `docs/experiments.md` and `artifacts/experiments.json`).

Every *arm* continues a checkpoint (the build's warm-up, or another arm's result) with the build's
`round` settings (`--round-epochs`, `--round-lr`...) and one kind of negatives, and is scored on the
validation split. An arm with a `control` is compared against that arm: the same start, epochs,
learning rate, schedule, batch size, queries and number of explicit negatives, so the difference is
the lever alone. A result is stored under `artifacts/experiments/results/NAME.json` with the key of
its inputs, so a rerun trains only arms that are new or changed; checkpoints stay under
`artifacts/experiments/` (not committed). Mining uses an exact index (no Chroma), through the same
`mine_file` as the build.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.common.artifacts import WARMUP, key_of, read_json, write_json, write_text
from core.common.config import Config
from core.common.types import Tally
from core.data.corpus import Corpus, split_queries
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.retrieval.evaluate import IREvaluator
from core.retrieval.hybrid import Hybrid, fit_on_corpus, fitting_queries
from core.retrieval.lexical import Lexical
from core.retrieval.rankers import Setting, make
from core.training.mining import mine_file, mining_index
from core.training.rounds import round_config, train_round, trained_with, warmup_config
from core.training.tracking import tally_hook


@dataclass(frozen=True)
class Arm:
    name: str
    tests: str  # the lever, in a few words
    negatives: str  # "random" or "hard" (mined with the start checkpoint)
    overrides: dict = field(default_factory=dict)  # "section.field": value, for this round and its mining
    start: str = WARMUP  # the checkpoint it continues: the warm-up or another arm
    control: str | None = None  # the arm it is measured against


ONE = {"round.negatives_per_query": 1}  # the one-negative arms: the build's round before 4 won

ARMS = (
    Arm("random", "the build's round: 4 random negatives per query, the control of hard", "random"),
    Arm(
        "hard",
        "the build's round: 4 negatives per query mined with the warm-up (of its 20 best-ranked "
        "non-positives), beside the in-batch ones",
        "hard",
        control="random",
    ),
    Arm("random-1", "1 random negative per query: the control of every one-negative arm", "random", ONE),
    Arm("hard-1", "1 mined negative per query (the earlier recipe)", "hard", ONE, control="random-1"),
    Arm(
        "bm25-mined",
        "BM25's 20 best-ranked non-positives as the negatives instead (1 per query)",
        "hard",
        {**ONE, "build.mine_keep": 0, "build.bm25_negatives": 20},
        control="random-1",
    ),
    Arm(
        "denoised",
        "hard-1, skipping the 3 best-ranked mined passages (the likeliest unjudged positives)",
        "hard",
        {**ONE, "build.mine_skip": 3},
        control="random-1",
    ),
    Arm(
        "distilled",
        "hard-1, plus Margin-MSE distillation (weight 0.2) from all-MiniLM-L6-v2 (optional extra)",
        "hard",
        {**ONE, "round.distill": 0.2},
        control="hard-1",
    ),
    Arm(
        "distilled-light",
        "distilled at weight 0.01: the Margin-MSE term about the softmax loss's size (at 0.2, ~10x it)",
        "hard",
        {**ONE, "round.distill": 0.01},
        control="hard-1",
    ),
    Arm(
        "random-again",
        "random-1 continued for a second round: the control of hard-refreshed",
        "random",
        ONE,
        start="random-1",
    ),
    Arm(
        "hard-refreshed",
        "a second round from hard-1, its negatives mined again with hard-1 (ANCE-style refresh)",
        "hard",
        ONE,
        start="hard-1",
        control="random-again",
    ),
)
BY_NAME = {a.name: a for a in ARMS}


def resolve(base: Config, overrides: dict) -> Config:
    cfg = copy.deepcopy(base)
    for dotted, value in overrides.items():
        try:
            cfg.set(dotted, value)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return cfg


def evaluate_on(ranker, corpus: Corpus, qids: list[str]) -> dict:
    """Metrics of a ranker on these queries in every mode, without the corpus size."""
    metrics = IREvaluator.from_corpus(corpus, qids)(ranker)
    return {mode: {k: v for k, v in m.items() if k != "corpus"} for mode, m in metrics.items()}


class Lab:
    """The shared inputs of every arm: corpus, splits, vocabulary, and the checkpoints trained so far."""

    def __init__(self, base: Config, corpus: Corpus, root: Path, progress: Tally | None = None):
        self.base, self.corpus, self.root, self.progress = base, corpus, root, progress
        d = base.data
        self.train_qids, self.val_qids = split_queries(corpus, d.val_fraction, d.tune_fraction)
        self.fitted_on, self.tune_qids = fitting_queries(corpus, d.val_fraction, d.tune_fraction)
        self.vocab = Vocab.for_config([*corpus.texts(), *corpus.queries.text], base.vocab)
        self.checkpoints: dict[str, Checkpoint] = {}

    def checkpoint(self, name: str) -> Checkpoint:
        """The warm-up or an arm's checkpoint, trained first where it is missing or stale."""
        if name not in self.checkpoints:
            if name == WARMUP:
                self.checkpoints[name] = train_round(
                    warmup_config(self.base),
                    self.corpus,
                    self.vocab,
                    self.root / WARMUP,
                    hook=tally_hook(self.progress),
                )[0]
            else:
                self.train_arm(BY_NAME[name])
        return self.checkpoints[name]

    def train_arm(self, arm: Arm) -> float:
        """Train `arm`'s round (mining first for a hard arm); returns the seconds it took."""
        t0, start = time.time(), self.checkpoint(arm.start)
        cfg = resolve(self.base, arm.overrides)
        mined = self.root / "mined" / f"{arm.name}.json"
        inputs = start.fingerprint
        if arm.negatives == "hard":
            index = mining_index(start, self.corpus)
            mine_key, _ = mine_file(cfg, self.corpus, start, index, mined, progress=self.progress)
            inputs = key_of(inputs, mine_key)
        round_cfg = round_config(cfg, arm.negatives, start.path, mined)
        self.checkpoints[arm.name] = train_round(
            round_cfg, self.corpus, self.vocab, self.root / arm.name, inputs, hook=tally_hook(self.progress)
        )[0]
        return round(time.time() - t0, 1)

    def score(self, arm: Arm) -> dict:
        seconds = self.train_arm(arm)
        ckpt = self.checkpoints[arm.name]
        dense = make(arm.name, Setting(self.root, checkpoints=self.checkpoints))
        weight, _, _ = fit_on_corpus(ckpt.encoder, self.corpus, self.tune_qids)
        log = read_json(ckpt.path.parent / "log.json")
        speeds = [e["triplets_per_s"] for e in log["epochs"] if "triplets_per_s" in e]
        return {
            "name": arm.name,
            "dense": evaluate_on(dense, self.corpus, self.val_qids),
            "tuning": evaluate_on(dense, self.corpus, self.tune_qids),  # what a recipe is chosen by
            "hybrid": {
                "weight": weight,
                "fitted_on": self.fitted_on,
                **evaluate_on(Hybrid(dense, Lexical(), weight), self.corpus, self.val_qids),
            },
            "training": {
                "seconds": seconds,
                "train_seconds": log["seconds"],
                "triplets_per_s": round(sum(speeds) / max(len(speeds), 1), 1),
                "checkpoint": ckpt.fingerprint,
            },
        }


def arm_key(base: Config, arm: Arm, corpus_fingerprint: str) -> str:
    """What an arm's result depends on, as resolved settings (never the config's layout): what its
    round trains with (`trained_with`, as a build round's key), its negatives and, when it mines,
    the mining settings; its start (the warm-up's training settings, or that arm's key, recursively);
    the vocabulary settings and the corpus."""
    cfg = resolve(base, arm.overrides)
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
    lab = Lab(base, corpus, artifacts / "experiments", progress)
    results = []
    for arm in ARMS:
        path = lab.root / "results" / f"{arm.name}.json"
        key, stored = arm_key(base, arm, corpus.fingerprint()), read_json(path, {})
        if (only is None or arm.name in only) and (force or stored.get("key") != key):
            log(f"[experiment {arm.name}] {arm.tests}")
            stored = {"key": key, **lab.score(arm)}
            write_json(path, stored)
        if stored.get("key") == key:
            results.append({**stored, "tests": arm.tests, "control": arm.control, "start": arm.start})
    write_json(
        artifacts / "experiments.json",
        {"corpus": {"source": corpus.source, "fingerprint": corpus.fingerprint()}, "arms": results},
    )
    return results


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def _gain(a, b) -> str:
    return "–" if a is None or b is None else f"{a - b:+.3f}"


def markdown(results: list[dict], corpus: Corpus) -> str:
    """The table: each arm's validation full and BM25-hard MRR@10 beside its control's, the gain, and
    its hybrid with BM25."""
    by_name = {r["name"]: r for r in results}
    first = results[0]["dense"] if results else {}
    queries = first.get("full", {}).get("queries", 0), first.get("bm25_hard", {}).get("queries", 0)
    lines = [
        "# Experiments",
        "",
        "Regenerated by `python -m core experiments` (only new or changed arms are trained). Each arm "
        "continues a checkpoint (the build's warm-up, or the arm named in *start*) for the build's round "
        "(5 epochs at 2e-3, cosine schedule, batch 64, in-batch softmax, 4 explicit negatives per query "
        "unless an arm's settings say 1) with one kind of negatives. Its "
        "*control* differs from it in the negatives alone: the same start, epochs, learning rate, schedule, "
        "batch size, queries and number of explicit negatives per query, so *gain* is what the lever adds.",
        "",
        f"Validation: {queries[0]:,} queries never trained on, mined from or tuned on; *full* ranks all "
        f"{len(corpus.passages):,} passages; *BM25-hard* ranks each query's judged passage among the 20 best "
        f"other passages BM25 finds ({queries[1]:,} queries). The hybrid's weight is fitted on the tuning "
        "slice (neither training nor validation); the recipe is chosen by *tuning full gain*, the gain on "
        "those tuning queries, never by a validation figure. *Minutes*: the arm's training round, one "
        "torch thread, beside other work (comparable only roughly).",
        "",
        "| arm | what it tests | start | control | full MRR@10 | gain | BM25-hard MRR@10 | gain | R@10 "
        "| tuning full gain | hybrid full / BM25-hard (w) | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d, h = r["dense"], r["hybrid"]
        control = by_name.get(r.get("control") or "", {})
        c, ct = control.get("dense", {}), control.get("tuning", {})
        full, hard = d["full"]["mrr@10"], d["bm25_hard"]["mrr@10"]
        cfull, chard = c.get("full", {}).get("mrr@10"), c.get("bm25_hard", {}).get("mrr@10")
        lines.append(
            f"| **{r['name']}** | {r['tests']} | {r['start']} | {r.get('control') or '–'} | {_f(full)} | "
            f"{_gain(full, cfull)} | {_f(hard)} | {_gain(hard, chard)} | {_f(d['full']['recall@10'])} | "
            f"{_gain(r['tuning']['full']['mrr@10'], ct.get('full', {}).get('mrr@10'))} | "
            f"{_f(h['full']['mrr@10'])} / {_f(h['bm25_hard']['mrr@10'])} (w {h['weight']}) | "
            f"{r['training']['train_seconds'] / 60:.1f} |"
        )
    missing = [a.name for a in ARMS if a.name not in by_name]
    if missing:
        lines += ["", f"Defined but not run yet (no stored result): {', '.join(missing)}."]
    lines += ["", "Settings of each arm (overrides of the build's defaults):", ""]
    lines += [
        f"- **{a.name}**: `{a.overrides or {}}`, negatives {a.negatives}" for a in ARMS if a.name in by_name
    ]
    return "\n".join(lines) + "\n"


def write_report(results: list[dict], corpus: Corpus, docs: Path) -> None:
    write_text(docs / "experiments.md", markdown(results, corpus))
