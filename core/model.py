"""The two-tower model: word embeddings -> tower (GRU or average) -> projection -> L2 normalisation.

Shapes: B = batch, T = tokens (padded), E = embedding size, H = GRU hidden size, D = output size.
`ModelConfig` is the only constructor argument; a checkpoint stores it beside the weights and the
vocabulary, so `load_checkpoint` rebuilds the model without any training code.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from core.artifacts import write_atomic
from core.config import ModelConfig
from core.vocab import PAD_ID, Vocab

CHECKPOINT_FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or of another format; the message says what to do."""


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the first `lengths[b]` steps of x (B, T, C) -> (B, C)."""
    mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1)
    return (x * mask).sum(1) / lengths.clamp(min=1).unsqueeze(-1).to(x.dtype)


class Tower(nn.Module):
    """Embedded tokens (B, T, E) and lengths (B,) -> unit vectors (B, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        pooled = 0
        if cfg.tower == "gru":
            self.gru = nn.GRU(cfg.embed_dim, cfg.hidden, num_layers=cfg.layers,
                              bidirectional=cfg.bidirectional, batch_first=True)
            pooled += cfg.hidden * (2 if cfg.bidirectional else 1)
        elif cfg.tower != "avg":
            raise ValueError(f"unknown tower {cfg.tower!r} (gru or avg)")
        if cfg.tower == "avg" or cfg.mean_path:
            pooled += cfg.embed_dim
        self.proj = nn.Linear(pooled, cfg.out_dim) if cfg.out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.cfg.tower == "gru":
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, h = self.gru(packed)                       # h: (layers * dirs, B, H)
            if self.cfg.pooling == "last":
                dirs = 2 if self.cfg.bidirectional else 1
                parts.append(torch.cat(list(h[-dirs:]), dim=-1))  # (B, dirs * H)
            else:
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
                parts.append(masked_mean(out, lengths))    # (B, dirs * H)
        if self.cfg.tower == "avg" or self.cfg.mean_path:
            parts.append(masked_mean(x, lengths))          # (B, E)
        return F.normalize(self.proj(torch.cat(parts, dim=-1)), dim=-1)  # (B, D)


class TwoTower(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD_ID)
        self.embedding.weight.requires_grad = not cfg.freeze_embeddings
        # towers[0] encodes queries, towers[-1] passages: one module when the weights are shared
        self.towers = nn.ModuleList([Tower(cfg) for _ in range(1 if cfg.shared else 2)])

    def encode_query(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.towers[0](self.embedding(ids), lengths)

    def encode_passage(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.towers[-1](self.embedding(ids), lengths)

    @classmethod
    def from_vocab(cls, cfg: ModelConfig, vocab: Vocab) -> "TwoTower":
        cfg = dataclasses.replace(cfg, vocab_size=len(vocab), embed_dim=vocab.dim)
        model = cls(cfg)
        with torch.no_grad():
            model.embedding.weight.copy_(vocab.embedding_matrix())
        return model


def save_checkpoint(path: str | Path, model: TwoTower, vocab: Vocab, meta: dict) -> None:
    """One self-describing file: model config, vocabulary words, weights (fp16 word vectors when
    frozen, to keep the file small) and `meta` (fingerprints, metrics). Written atomically."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if model.cfg.freeze_embeddings:
        state["embedding.weight"] = state["embedding.weight"].half()
    ckpt = {"format": CHECKPOINT_FORMAT, "model_config": dataclasses.asdict(model.cfg),
            "vocab": vocab.int_to_vocab, "state_dict": state, "meta": meta}
    write_atomic(path, lambda f: torch.save(ckpt, f))


def load_checkpoint(path: str | Path) -> tuple[TwoTower, Vocab, dict]:
    """(model in eval mode, vocabulary, meta). Uses `weights_only` loading: no arbitrary pickle."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found: run `python -m core build` (or `python -m core train`)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"checkpoint {path} has format {ckpt.get('format')!r}, expected {CHECKPOINT_FORMAT}")
        cfg = ModelConfig(**ckpt["model_config"])
        state = ckpt["state_dict"]
        state["embedding.weight"] = state["embedding.weight"].float()
        model = TwoTower(cfg)
        model.load_state_dict(state)
        vocab = Vocab(ckpt["vocab"], state["embedding.weight"].numpy())
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or incompatible ({type(e).__name__}: {e}); "
                              "rebuild it with `python -m core build --force`") from e
    return model.eval(), vocab, ckpt.get("meta", {})


def file_fingerprint(path: str | Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
