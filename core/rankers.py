"""Rankers by name, for evaluation: a checkpoint (a path, or a folder name under artifacts/),
`glove-avg` (the untrained baseline), `bm25`, or `hybrid:<checkpoint>` (fused with BM25 by the
weight the build fitted for that checkpoint file)."""
from __future__ import annotations

from pathlib import Path

from core.bm25 import BM25
from core.collate import Encoder
from core.evaluate import DenseRanker
from core.hybrid import PREFIX, HybridRanker, weight_for
from core.model import CheckpointError, file_fingerprint
from core.vocab import Vocab

BASELINES = ("glove-avg", "bm25")


def checkpoint_path(name: str, artifacts: Path) -> Path:
    """`name` itself when it is a file, else `artifacts/NAME/model.pt`."""
    path = Path(name)
    return path if path.suffix == ".pt" or path.is_file() else Path(artifacts) / name / "model.pt"


def make_ranker(name: str, artifacts: Path, glove: str | None = None, progress: bool = False):
    """A ranker (`fit`, `scores`) for `name`; a hybrid of a checkpoint with no fitted weight is an
    error that says how to fit one."""
    if name == "glove-avg":
        return DenseRanker(Encoder.glove_average(Vocab.from_glove(glove)), progress)
    if name == "bm25":
        return BM25()
    if name.startswith(PREFIX):
        path = checkpoint_path(name[len(PREFIX):], artifacts)
        dense = make_ranker(str(path), artifacts, progress=progress)
        weight = weight_for(artifacts, file_fingerprint(path))
        if weight is None:
            raise CheckpointError(f"no fusion weight fitted for {path} in {Path(artifacts) / 'hybrid.json'}: "
                                  "run `python -m core build` (it fits one for each checkpoint it trains)")
        return HybridRanker(dense, weight)
    return DenseRanker(Encoder.from_checkpoint(checkpoint_path(name, artifacts)), progress)
