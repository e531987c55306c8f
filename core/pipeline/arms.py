"""The experiments' arms: what each trains and what it is measured against, and where its result is
stored (`artifacts/experiments/results/NAME.json`). `core.pipeline.experiments` trains and scores
them; this module is plain data (no torch), so the app reads results through it too.

An arm either continues a checkpoint (the build's warm-up, or another arm's result) for a round of
the build's `round` settings, or, with `start=None`, trains from scratch with the `train` settings,
as the warm-up does (random negatives). Its `overrides` change settings by name (`round.distill`,
`model.tower`...); its `control` is the arm it differs from in one lever alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.common.artifacts import WARMUP


@dataclass(frozen=True)
class Arm:
    name: str
    tests: str  # the lever, in a few words
    negatives: str  # "random" or "hard" (mined with the start checkpoint)
    overrides: dict = field(default_factory=dict)  # "section.field": value, for this round and its mining
    start: str | None = WARMUP  # the checkpoint it continues (the warm-up or another arm); None: scratch
    control: str | None = None  # the arm it is measured against
    pretrain: bool = False  # from scratch: first pretrained on pseudo-queries (`build.pretrain_queries`)


ONE = {"round.negatives_per_query": 1}  # the one-negative arms: the build's round before 4 won
# the towers' equal budget: the warm-up's settings (in-batch softmax, 1 random negative per query beside
# the in-batch ones, lr 2e-3 with a cosine schedule, batch 64, every training query) at 2 epochs, not 4
TOWER_BUDGET = {"train.epochs": 2}
SHIPPED_TOWER = "tower-gru"  # the tower of the build's checkpoints, the other towers' control


def tower_arm(tower: str, what: str) -> Arm:
    """`tower` trained from scratch at the towers' budget (recurrent ones bidirectional, the default)."""
    control = None if f"tower-{tower}" == SHIPPED_TOWER else SHIPPED_TOWER
    overrides = {**TOWER_BUDGET, "model.tower": tower}
    return Arm(f"tower-{tower}", what, "random", overrides, start=None, control=control)


TOWER_ARMS = (
    tower_arm("gru", "bidirectional GRU, the build's tower: the control of every other tower"),
    tower_arm("avg", "the average of the word vectors (no recurrence), beside the lexical path"),
    tower_arm("rnn", "bidirectional plain RNN (tanh): recurrence without gates"),
    tower_arm("lstm", "bidirectional LSTM: gates and a cell state"),
)

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
    *TOWER_ARMS,
    Arm(
        "warmup-longer",
        "the warm-up trained 3 epochs longer (780 steps) on the labelled queries: the control of pretrained",
        "random",
        {"train.epochs": 7},
        start=None,
    ),
    Arm(
        "pretrained",
        "the warm-up after 780 steps on 49,920 pseudo-queries cut from the passages (`--pretrain-queries`)",
        "random",
        {"build.pretrain_queries": 49_920},
        start=None,
        control="warmup-longer",
        pretrain=True,
    ),
)
BY_NAME = {a.name: a for a in ARMS}


def result_path(artifacts: Path, name: str) -> Path:
    return Path(artifacts) / "experiments" / "results" / f"{name}.json"


def read_results(artifacts: Path, arms: tuple[Arm, ...]) -> dict[str, dict]:
    """The stored result of each of `arms` that has a readable one, by name (a missing or damaged
    file is left out: the caller says what is not measured)."""
    out = {}
    for arm in arms:
        try:
            result = json.loads(result_path(artifacts, arm.name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(result, dict):
            out[arm.name] = result
    return out
