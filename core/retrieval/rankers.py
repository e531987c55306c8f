"""Rankers by name, for evaluation: a checkpoint (a path, or a folder name under artifacts/),
`glove-avg` (the untrained baseline), `bm25`, or `hybrid:<checkpoint>` (fused with BM25 by the
weight the build fitted for that checkpoint file)."""

from __future__ import annotations

from pathlib import Path

from core.common.artifacts import PREFERRED, CheckpointError, checkpoint_path
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint, Encoder
from core.retrieval.bm25 import BM25
from core.retrieval.evaluate import DenseRanker
from core.retrieval.hybrid import PREFIX, HybridRanker, weight_for

BASELINES = ("glove-avg", "bm25")
WARMUP = "warmup"  # the build's shared starting checkpoint, measured beside the two it starts
METRIC_MODELS = (*BASELINES, WARMUP, *PREFERRED, *(PREFIX + name for name in PREFERRED))  # in metrics.json


def checkpoint_for(name: str, artifacts: Path) -> Checkpoint | None:
    """The checkpoint behind ranker `name` (a hybrid's dense one), not yet read; None for a baseline."""
    if name in BASELINES:
        return None
    dense = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    return Checkpoint(dense, checkpoint_path(dense, artifacts))


def make_ranker(
    name: str,
    artifacts: Path,
    glove: str | None = None,
    progress: bool = False,
    checkpoint: Checkpoint | None = None,
):
    """A ranker (`fit`, `scores`) for `name`, from the handle `checkpoint` when one is open already;
    a hybrid of a checkpoint with no fitted weight is an error that says how to fit one."""
    if name == "glove-avg":
        return DenseRanker(Encoder.glove_average(Vocab.from_glove(glove)), progress)
    if name == "bm25":
        return BM25()
    checkpoint = checkpoint or checkpoint_for(name, artifacts)
    dense = DenseRanker(checkpoint.encoder, progress)
    if not name.startswith(PREFIX):
        return dense
    weight = weight_for(artifacts, checkpoint.fingerprint)
    if weight is None:
        raise CheckpointError(
            f"no fusion weight fitted for {checkpoint.path} in {Path(artifacts) / 'hybrid.json'}: "
            "run `python -m core build` (it fits one for each checkpoint it trains)"
        )
    return HybridRanker(dense, weight)
