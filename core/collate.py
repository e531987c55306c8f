"""Collator: token-id lists -> padded (ids, lengths) tensors, and batched encoding of texts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.config import ModelConfig
from core.model import TwoTower, load_checkpoint
from core.vocab import PAD_ID, Vocab


def pad(id_lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, T) padded with <pad>, lengths (B,))."""
    lengths = torch.tensor([len(x) for x in id_lists], dtype=torch.long)
    ids = torch.full((len(id_lists), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, x in enumerate(id_lists):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
    return ids, lengths


class Encoder:
    """A model with its vocabulary and token limits: texts in, unit vectors (N, D) float32 out.
    Batches are formed from length-sorted texts so little compute is spent on padding."""

    def __init__(self, model: TwoTower, vocab: Vocab, query_len: int = 32, passage_len: int = 128,
                 batch_size: int = 256, meta: dict | None = None):
        self.model, self.vocab = model.eval(), vocab
        self.query_len, self.passage_len, self.batch_size = query_len, passage_len, batch_size
        self.meta = meta or {}

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> "Encoder":
        model, vocab, meta = load_checkpoint(path)
        lens = meta.get("data", {})
        return cls(model, vocab, lens.get("query_len", 32), lens.get("passage_len", 128), meta=meta)

    @classmethod
    def glove_average(cls, vocab: Vocab, query_len: int = 32, passage_len: int = 128) -> "Encoder":
        """The untrained baseline: the mean GloVe vector of the tokens, nothing learned."""
        cfg = ModelConfig(tower="avg", out_dim=0, mean_path=False)
        return cls(TwoTower.from_vocab(cfg, vocab), vocab, query_len, passage_len, meta={"name": "glove-avg"})

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_len, self.model.encode_query)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_len, self.model.encode_passage, progress)

    def _encode(self, texts, max_len, tower, progress=False) -> np.ndarray:
        ids = [self.vocab.encode(t, max_len) for t in texts]
        order = np.argsort([len(x) for x in ids], kind="stable")[::-1]
        out = None
        batches = range(0, len(ids), self.batch_size)
        if progress:
            from tqdm.auto import tqdm
            batches = tqdm(batches, desc="encode", unit="batch", leave=False)
        with torch.inference_mode():
            for start in batches:
                rows = order[start : start + self.batch_size]
                vecs = tower(*pad([ids[i] for i in rows])).numpy()
                if out is None:
                    out = np.empty((len(ids), vecs.shape[1]), dtype=np.float32)
                out[rows] = vecs
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)
