"""The two-tower model: word embeddings -> tower (a recurrent one: RNN, GRU or LSTM, one- or
two-directional; or the average of the word vectors) -> projection -> L2 normalisation, and beside it
the lexical path: a learned weight for each word, one dimension of the vector per vocabulary word.

Shapes: B = batch, T = tokens (padded), E = embedding size, H = recurrent hidden size, D = output size,
V = vocabulary size, U = the words a batch holds.
`ModelConfig` is the only constructor argument; a checkpoint stores it beside the weights and the
vocabulary, so `load_checkpoint` rebuilds the model without any training code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.common.artifacts import CheckpointError, write_atomic
from core.common.config import ModelConfig
from core.data.vocab import PAD_ID, UNK_ID, Vocab

CHECKPOINT_FORMAT = (
    3  # what the file holds: padded recurrent towers, a lexical path of one dimension per word
)


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the first `lengths[b]` steps of x (B, T, C) -> (B, C)."""
    return (x * length_mask(x, lengths).unsqueeze(-1)).sum(1) / lengths.clamp(min=1).unsqueeze(-1).to(x.dtype)


def length_mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) True on the first `lengths[b]` steps of x (B, T, ...)."""
    return torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, T, C) with each row's first `lengths[b]` steps reversed; padding stays where it is."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}  # the recurrent towers (nn.RNN: tanh)
TOWERS = (*CELLS, "avg")  # core.common.settings.CHOICES["tower"] names these


class Recurrent(nn.Module):
    """A (bi)directional RNN, GRU or LSTM (`cfg.tower`) over right-padded input (B, T, E) -> states
    (B, T, dirs * H); each layer's states are the next one's input.

    The backward direction reads each row reversed within its length, so padding never reaches a
    real step's state. Padded input is 2-4x faster than packed sequences in PyTorch on CPU."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cell, dirs = CELLS[cfg.tower], 2 if cfg.bidirectional else 1

        def layers() -> nn.ModuleList:
            return nn.ModuleList(
                cell(cfg.embed_dim if i == 0 else cfg.hidden * dirs, cfg.hidden, batch_first=True)
                for i in range(cfg.layers)
            )

        self.forward_layers = layers()
        self.backward_layers = layers() if cfg.bidirectional else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        for i, fwd in enumerate(self.forward_layers):
            out = fwd(x)[0]  # (B, T, H); an LSTM's cell states are not kept
            if self.backward_layers is not None:
                back = self.backward_layers[i](reverse_within(x, lengths))[0]
                out = torch.cat([out, reverse_within(back, lengths)], dim=-1)  # (B, T, 2H)
            x = out
        return x


class Tower(nn.Module):
    """Embedded tokens (B, T, E), their ids and lengths (B,) -> pooled features (B, P), and, with
    the lexical path, a context correction (B, T) of each token's learned term weight
    (`TwoTower.term_weights`)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        pooled = 0
        if cfg.tower in CELLS:  # named after the tower (towers.0.gru...): a checkpoint's keys say which
            self.add_module(cfg.tower, Recurrent(cfg))
            pooled += cfg.hidden * (2 if cfg.bidirectional else 1)
        elif cfg.tower != "avg":
            raise ValueError(f"unknown tower {cfg.tower!r} ({' or '.join(TOWERS)})")
        context = pooled
        if cfg.tower == "avg" or cfg.mean_path:
            pooled += cfg.embed_dim
        self.proj = nn.Linear(pooled, cfg.out_dim) if cfg.out_dim else nn.Identity()
        if cfg.lexical:
            self.term_context = nn.Linear(context + cfg.embed_dim, 1)
            nn.init.zeros_(self.term_context.weight), nn.init.zeros_(self.term_context.bias)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        parts, states = [], x[..., :0]
        if self.cfg.tower in CELLS:
            states = self.get_submodule(self.cfg.tower)(x, lengths)  # (B, T, dirs * H)
            if self.cfg.pooling == "last":
                h = self.cfg.hidden
                last = states.gather(
                    1, (lengths - 1).clamp(min=0)[:, None, None].expand(-1, 1, states.shape[-1])
                )
                parts.append(
                    torch.cat([last[:, 0, :h], states[:, 0, h:]], dim=-1)
                )  # fwd at the end, bwd at 0
            else:
                parts.append(masked_mean(states, lengths))  # (B, dirs * H)
        if self.cfg.tower == "avg" or self.cfg.mean_path:
            parts.append(masked_mean(x, lengths))  # (B, E)
        dense = F.normalize(self.proj(torch.cat(parts, dim=-1)), dim=-1)  # (B, D)
        context = self.term_context(torch.cat([states, x], -1)).squeeze(-1) if self.cfg.lexical else None
        return dense, context  # (B, D), (B, T)


class Encoding(NamedTuple):
    """A batch of texts as the model encodes them: the dense part of each unit vector as it stands in
    it (B, D), and each token's share (B, T) of its word's dimension (`ids` (B, T)); the vector is
    `[dense, sum over t of shares[t] * one_hot(ids[t], V)]`. `shares` is None without a lexical path."""

    dense: torch.Tensor
    ids: torch.Tensor
    shares: torch.Tensor | None


def joint(*encodings: Encoding) -> list[torch.Tensor]:
    """The encodings' unit vectors in one space of the words they hold: `[dense, one dimension per word
    any of them holds]` (B, D + U). Dot products there are exactly the model's scores, so a training
    batch's losses see the whole vectors without the vocabulary-wide width."""
    if encodings[0].shares is None:
        return [e.dense for e in encodings]
    words, local = torch.unique(torch.cat([e.ids.flatten() for e in encodings]), return_inverse=True)
    out = []
    for e, where in zip(encodings, local.split([e.ids.numel() for e in encodings])):
        lexical = e.dense.new_zeros(len(e.ids), len(words)).scatter_add(1, where.view_as(e.ids), e.shares)
        out.append(torch.cat([e.dense, lexical], dim=-1))
    return out


class TwoTower(nn.Module):
    """Query and passage encoders: an `Encoding` of unit vectors, dense (B, D) or, with the lexical
    path, (B, D + V) held sparse.

    The lexical path gives each word of the vocabulary its own dimension: token t adds w(t) to its
    word's dimension (w(t) = softplus(prior[word] + context correction), the prior initialised with
    the corpus IDF), so the dot product of two such vectors is a weighted overlap of the words they
    share (exact matches of rare names and numbers), and of nothing else. Both parts are unit vectors,
    mixed as [dense, s * lexical] / sqrt(1 + s^2) with a learned s."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD_ID)
        self.embedding.weight.requires_grad = not cfg.freeze_embeddings
        # towers[0] encodes queries, towers[-1] passages: one module when the weights are shared
        self.towers = nn.ModuleList([Tower(cfg) for _ in range(1 if cfg.shared else 2)])
        if cfg.lexical:
            self.term_prior = nn.Parameter(torch.zeros(cfg.vocab_size))  # (V,) before softplus
            self.log_mix = nn.Parameter(torch.zeros(()))  # s = exp(log_mix)

    def encode_query(self, ids: torch.Tensor, lengths: torch.Tensor) -> Encoding:
        return self._encode(self.towers[0], ids, lengths)

    def encode_passage(self, ids: torch.Tensor, lengths: torch.Tensor) -> Encoding:
        return self._encode(self.towers[-1], ids, lengths)

    def _encode(self, tower: Tower, ids: torch.Tensor, lengths: torch.Tensor) -> Encoding:
        dense, context = tower(self.embedding(ids), lengths)
        if context is None:
            return Encoding(dense, ids, None)
        weights = self.term_weights(ids, lengths, context)  # (B, T)
        _, local = torch.unique(ids, return_inverse=True)  # the row's words summed, for their norm
        per_word = weights.new_zeros(len(ids), int(local.max()) + 1).scatter_add(1, local, weights)
        norm = per_word.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # F.normalize's eps
        s = self.log_mix.exp()
        mix = torch.sqrt(1 + s * s)
        return Encoding(dense / mix, ids, weights * (s / (norm * mix)))

    def term_weights(self, ids: torch.Tensor, lengths: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(B, T) weight of each token; 0 on padding and on `<unk>` (unknown words never match)."""
        return F.softplus(self.term_prior[ids] + context) * (length_mask(ids, lengths) & (ids != UNK_ID))

    @classmethod
    def from_vocab(cls, cfg: ModelConfig, vocab: Vocab, idf: torch.Tensor | None = None) -> TwoTower:
        """A new model with the vocabulary's word vectors; `idf` (V,) initialises the term weights."""
        cfg = dataclasses.replace(cfg, vocab_size=len(vocab), embed_dim=vocab.dim)
        model = cls(cfg)
        with torch.no_grad():
            model.embedding.weight.copy_(vocab.embedding_matrix())
            if cfg.lexical:
                prior = idf if idf is not None else torch.ones(len(vocab))
                model.term_prior.copy_(torch.log(torch.expm1(prior.clamp(min=1e-3))))  # softplus^-1
        return model


def save_checkpoint(path: str | Path, model: TwoTower, vocab: Vocab, meta: dict) -> None:
    """One self-describing file: model config, vocabulary words, weights (fp16 word vectors when
    frozen, to keep the file small) and `meta` (fingerprints, metrics). Written atomically."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if model.cfg.freeze_embeddings:
        state["embedding.weight"] = state["embedding.weight"].half()
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "model_config": dataclasses.asdict(model.cfg),
        "vocab": vocab.int_to_vocab,
        "state_dict": state,
        "meta": meta,
    }
    buffer = io.BytesIO()  # serialised in memory first: a full disk is then a plain OSError, not torch's
    torch.save(ckpt, buffer)
    write_atomic(path, lambda f: f.write(buffer.getbuffer()))


def load_checkpoint(path: str | Path) -> tuple[TwoTower, Vocab, dict]:
    """(model in eval mode, vocabulary, meta). Uses `weights_only` loading: no arbitrary pickle."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} not found: run `python -m core build` (or `python -m core train`)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"checkpoint {path} has format {ckpt.get('format')!r}, expected {CHECKPOINT_FORMAT}"
            )
        cfg = ModelConfig(**ckpt["model_config"])
        state = ckpt["state_dict"]
        state["embedding.weight"] = state["embedding.weight"].float()
        model = TwoTower(cfg)
        model.load_state_dict(state)
        vocab = Vocab(ckpt["vocab"], state["embedding.weight"].numpy())
        meta = ckpt.get("meta", {})
        if not isinstance(meta, dict):
            raise CheckpointError(
                f"checkpoint {path} is corrupt: its meta is a {type(meta).__name__}, not a dict"
            )
        broken = next((k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()), None)
        if broken:
            raise CheckpointError(
                f"checkpoint {path} holds non-finite weights ({broken}): it diverged or is damaged; "
                "train it again (`python -m core build --force`)"
            )
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or incompatible ({type(e).__name__}: {e}); "
            "rebuild it with `python -m core build --force`"
        ) from e
    return model.eval(), vocab, meta


def file_fingerprint(path: str | Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
