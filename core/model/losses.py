"""Losses over embeddings. Each module's math lives in `compute_loss_from_embeddings`, testable
without a model. Inputs are L2-normalised: q and p are (B, D), n is (B*k, D) (k explicit negatives
per query, query by query); cosine similarity is a dot product."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def active_fraction(q: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float) -> float:
    """Share of (query, negative) pairs whose cosine-distance triplet loss is non-zero:
    d(q,p) + margin > d(q,n)."""
    with torch.no_grad():
        return (_negative_cosines(q, n) + margin > (q * p).sum(-1, keepdim=True)).float().mean().item()


def _negative_cosines(q: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """(B, k) cosine of each query with its own k explicit negatives."""
    return (q.unsqueeze(1) * n.view(len(q), -1, q.shape[-1])).sum(-1)


class TripletCosineLoss(nn.Module):
    """max(0, d(q,p) - d(q,n) + margin) with d = 1 - cosine, averaged over every (query, negative)."""

    def __init__(self, margin: float = 0.2):
        super().__init__()
        self.margin = margin

    def compute_loss_from_embeddings(self, q, p, n, invalid=None) -> torch.Tensor:
        d_pos = 1 - (q * p).sum(-1, keepdim=True)  # (B, 1)
        d_neg = 1 - _negative_cosines(q, n)  # (B, k)
        return F.relu(d_pos - d_neg + self.margin).mean()


class InBatchSoftmaxLoss(nn.Module):
    """Cross-entropy of each query over all passages in the batch (its positive, every other
    query's positive and every explicit negative), scaled by 1/temperature.
    `invalid` (B, B + B*k) marks candidates that are in fact positives of that query; they are masked."""

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    def compute_loss_from_embeddings(self, q, p, n, invalid=None) -> torch.Tensor:
        logits = q @ torch.cat([p, n]).T / self.temperature  # (B, B + B*k)
        if invalid is not None:
            logits = logits.masked_fill(invalid, float("-inf"))
        return F.cross_entropy(logits, torch.arange(len(q), device=q.device))


class MarginMSELoss(nn.Module):
    """Distillation (Hofstätter et al.'s Margin-MSE): the student's margin cos(q,p) - cos(q,n) should
    equal a teacher's, for every explicit negative; both margins in units of 1/temperature, the scale
    the in-batch softmax sees."""

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    def compute_loss_from_embeddings(self, q, p, n, teacher_margins: torch.Tensor) -> torch.Tensor:
        student = (q * p).sum(-1, keepdim=True) - _negative_cosines(q, n)  # (B, k)
        return F.mse_loss(student / self.temperature, teacher_margins / self.temperature)


def make_loss(name: str, margin: float, temperature: float) -> nn.Module:
    if name == "triplet":
        return TripletCosineLoss(margin)
    if name == "inbatch":
        return InBatchSoftmaxLoss(temperature)
    raise ValueError(f"unknown loss {name!r} (triplet or inbatch)")
