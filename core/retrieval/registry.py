"""Rankers by name: the one registry behind `python -m core eval`, the build's metrics, the
experiments and the app's pickers (Search, Compare, Confused).

A name is one of `REGISTRY` (`glove-avg`, the untrained baseline; `bm25`), a checkpoint (a path, or a
folder name under artifacts/), or `hybrid:<checkpoint>` (the checkpoint fused with BM25 by the weight
the build fitted for that checkpoint file). Adding a ranker is one module (a `Ranker`) and one line
in `REGISTRY`: it is then evaluated by `eval` and listed in the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.common.artifacts import PREFERRED, WARMUP, CheckpointError, checkpoint_path
from core.common.types import Progress
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint, Encoder
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.hybrid import PREFIX, Hybrid, fit_on_corpus, fitting_queries, weight_for
from core.retrieval.lexical import Lexical
from core.retrieval.live_index import Foreground
from core.retrieval.ranker import Ranker


@dataclass
class RankerContext:
    """Where rankers are made: the artifacts folder (checkpoints, fusion weights), GloVe vectors for
    `glove-avg`, progress of encoding (True: tqdm bars), checkpoints already open, by name; for the
    app, the Chroma folder dense rankers search, whether they build it in the `background`, and the
    app's foreground work, which such a build waits for."""

    artifacts: Path
    glove: str | None = None
    progress: Progress | bool = False
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    chroma: Path | None = None
    background: bool = False
    foreground: Foreground | None = None


Factory = Callable[[str, RankerContext], Ranker]  # (name, context) -> a ranker, not yet fitted


def glove_average(name: str, context: RankerContext) -> Ranker:
    return DenseRanker(
        name, Encoder.glove_average(Vocab.from_glove(context.glove)), progress=context.progress
    )


def lexical(name: str, context: RankerContext) -> Ranker:
    return Lexical()


REGISTRY: dict[str, Factory] = {
    "glove-avg": glove_average,
    "bm25": lexical,
}
NOT_IN_APP = ("glove-avg",)  # needs GloVe vectors the app does not load; the app lists every other name

BASELINES = ("glove-avg", "bm25")
METRIC_MODELS = (*BASELINES, WARMUP, *PREFERRED, *(PREFIX + name for name in PREFERRED))  # in metrics.json


def names(checkpoints: Iterable[str], app: bool = False) -> list[str]:
    """Every ranker name over these checkpoints: the checkpoints, the registry's (those the app shows,
    with `app`), then `hybrid:<checkpoint>` for each."""
    checkpoints = list(checkpoints)
    fixed = [n for n in REGISTRY if not (app and n in NOT_IN_APP)]
    return [*checkpoints, *fixed, *(PREFIX + c for c in checkpoints)]


def checkpoint_for(name: str, artifacts: Path) -> Checkpoint | None:
    """The checkpoint behind ranker `name` (a hybrid's dense one), not yet read; None for one of the
    registry's."""
    if name in REGISTRY:
        return None
    dense = name.removeprefix(PREFIX)
    return Checkpoint(dense, checkpoint_path(dense, artifacts))


def make(name: str, context: RankerContext) -> Ranker:
    """The ranker called `name`, not yet fitted (from an open checkpoint of `context` when there is
    one); a hybrid of a checkpoint with no fitted weight is an error that says how to fit one."""
    if name in REGISTRY:
        return REGISTRY[name](name, context)
    dense = name.removeprefix(PREFIX)
    checkpoint = context.checkpoints.get(dense) or Checkpoint(
        dense, checkpoint_path(dense, context.artifacts)
    )
    engine = DenseRanker(
        dense, checkpoint, None, context.chroma, context.progress, context.background, context.foreground
    )
    return fused(engine, Lexical(), context.artifacts) if name.startswith(PREFIX) else engine


def fused(engine: DenseRanker, bm25: Lexical, artifacts: Path, fit_missing: bool = False) -> Hybrid:
    """`hybrid:<checkpoint>`: `engine` fused with `bm25` by the weight fitted for its checkpoint
    file (by the build, or by `adapt` on the corpus's tuning queries; an adapted checkpoint with none:
    the weight of the one it was adapted from); with
    `fit_missing` (the app; both fitted on the corpus), one is fitted now on the tuning queries when
    there is none, else that is an error saying how to fit one."""
    weight = weight_for(artifacts, engine.fingerprint)
    if weight is None and "adapted" in engine.checkpoint.meta:  # fitted on no query of its corpus
        weight = weight_for(artifacts, engine.checkpoint.meta["adapted"]["from_fingerprint"])
    if weight is None and fit_missing and isinstance(engine.catalog, Catalog):
        corpus = engine.catalog.corpus
        _, qids = fitting_queries(corpus, engine.val_fraction, engine.checkpoint.tune_fraction)
        weight = fit_on_corpus(engine.encoder, corpus, qids, passage_vectors=engine.vectors, bm25=bm25.bm25)[
            0
        ]
    if weight is None:
        raise CheckpointError(
            f"no fusion weight fitted for {engine.checkpoint.path} in {Path(artifacts) / 'hybrid.json'}: "
            "run `python -m core build` (it fits one for each checkpoint it trains)"
        )
    return Hybrid(engine, bm25, weight)
