"""Losses over embeddings. Each module's math lives in `compute_loss_from_embeddings`, testable
without a model. Inputs are L2-normalised: q, p, n are (B, D); cosine similarity is a dot product."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def active_fraction(q: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float) -> float:
    """Share of triplets whose cosine-distance triplet loss is non-zero: d(q,p) + margin > d(q,n)."""
    with torch.no_grad():
        return ((q * n).sum(-1) + margin > (q * p).sum(-1)).float().mean().item()


class TripletCosineLoss(nn.Module):
    """max(0, d(q,p) - d(q,n) + margin) with d = 1 - cosine, averaged over the batch."""

    def __init__(self, margin: float = 0.2):
        super().__init__()
        self.margin = margin

    def compute_loss_from_embeddings(self, q, p, n, invalid=None) -> torch.Tensor:
        d_pos = 1 - (q * p).sum(-1)
        d_neg = 1 - (q * n).sum(-1)
        return F.relu(d_pos - d_neg + self.margin).mean()


class InBatchSoftmaxLoss(nn.Module):
    """Cross-entropy of each query over all passages in the batch (its positive, every other
    query's positive and every explicit negative), scaled by 1/temperature.
    `invalid` (B, 2B) marks candidates that are in fact positives of that query; they are masked."""

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    def compute_loss_from_embeddings(self, q, p, n, invalid=None) -> torch.Tensor:
        logits = q @ torch.cat([p, n]).T / self.temperature  # (B, 2B)
        if invalid is not None:
            logits = logits.masked_fill(invalid, float("-inf"))
        return F.cross_entropy(logits, torch.arange(len(q), device=q.device))


def make_loss(name: str, margin: float, temperature: float) -> nn.Module:
    if name == "triplet":
        return TripletCosineLoss(margin)
    if name == "inbatch":
        return InBatchSoftmaxLoss(temperature)
    raise ValueError(f"unknown loss {name!r} (triplet or inbatch)")
