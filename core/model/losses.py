"""Losses as small modules over embeddings (sentence-transformers style): `forward(q, p, n, ...)` takes the
query, positive and negative vectors, and the math lives in `compute_loss_from_embeddings`, testable
without a model. Inputs are L2-normalised: q and p are (B, D), n is (B*k, D) (k explicit negatives per
query, query by query); cosine similarity is a dot product.

`LOSSES` is the one registry of training losses by name, each its class's `name` (and `label`, what the
app calls it): adding a loss is one class and one entry. `core.common.settings.CHOICES["loss"]` is a
view of it (bound here), for validation, the CLI and the app. `Objective` is what a training step calls:
the chosen loss plus, optionally, Margin-MSE distillation from a teacher's margins."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.common.config import TrainConfig
from core.common.settings import CHOICES


def active_fraction(q: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float) -> float:
    """Share of (query, negative) pairs whose cosine-distance triplet loss is non-zero:
    d(q,p) + margin > d(q,n)."""
    with torch.no_grad():
        return (_negative_cosines(q, n) + margin > (q * p).sum(-1, keepdim=True)).float().mean().item()


def _negative_cosines(q: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """(B, k) cosine of each query with its own k explicit negatives."""
    return (q.unsqueeze(1) * n.view(len(q), -1, q.shape[-1])).sum(-1)


class EmbeddingLoss(nn.Module):
    """A loss over (queries, positives, negatives) vectors; subclasses define the math."""

    name = ""
    label = ""

    @classmethod
    def from_config(cls, tc: TrainConfig) -> EmbeddingLoss:
        raise NotImplementedError

    def forward(self, q, p, n, invalid=None) -> torch.Tensor:
        return self.compute_loss_from_embeddings(q, p, n, invalid)

    def compute_loss_from_embeddings(self, q, p, n, invalid=None) -> torch.Tensor:
        raise NotImplementedError


class TripletCosineLoss(EmbeddingLoss):
    """max(0, d(q,p) - d(q,n) + margin) with d = 1 - cosine, averaged over every (query, negative)."""

    name, label = "triplet", "triplet margin"

    def __init__(self, margin: float = 0.2):
        super().__init__()
        self.margin = margin

    @classmethod
    def from_config(cls, tc: TrainConfig) -> TripletCosineLoss:
        return cls(tc.margin)

    def compute_loss_from_embeddings(self, q, p, n, invalid=None) -> torch.Tensor:
        d_pos = 1 - (q * p).sum(-1, keepdim=True)  # (B, 1)
        d_neg = 1 - _negative_cosines(q, n)  # (B, k)
        return F.relu(d_pos - d_neg + self.margin).mean()


class InBatchSoftmaxLoss(EmbeddingLoss):
    """Cross-entropy of each query over all passages in the batch (its positive, every other
    query's positive and every explicit negative), scaled by 1/temperature.
    `invalid` (B, B + B*k) marks candidates that are in fact positives of that query; they are masked."""

    name, label = "inbatch", "in-batch softmax"

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    @classmethod
    def from_config(cls, tc: TrainConfig) -> InBatchSoftmaxLoss:
        return cls(tc.temperature)

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

    def forward(self, q, p, n, teacher_margins: torch.Tensor) -> torch.Tensor:
        return self.compute_loss_from_embeddings(q, p, n, teacher_margins)

    def compute_loss_from_embeddings(self, q, p, n, teacher_margins: torch.Tensor) -> torch.Tensor:
        student = (q * p).sum(-1, keepdim=True) - _negative_cosines(q, n)  # (B, k)
        return F.mse_loss(student / self.temperature, teacher_margins / self.temperature)


LOSSES: dict[str, type[EmbeddingLoss]] = {c.name: c for c in (InBatchSoftmaxLoss, TripletCosineLoss)}
CHOICES["loss"].bind(LOSSES)


def make_loss(tc: TrainConfig) -> EmbeddingLoss:
    """The loss `tc.loss` names, with its settings from `tc`."""
    if tc.loss not in LOSSES:
        raise ValueError(f"unknown loss {tc.loss!r} ({' or '.join(LOSSES)})")
    return LOSSES[tc.loss].from_config(tc)


class Objective(nn.Module):
    """What a training step minimises: the chosen loss, plus `distill` times Margin-MSE against the
    teacher's margins when they are given."""

    def __init__(self, tc: TrainConfig):
        super().__init__()
        self.loss, self.distill, self.weight = make_loss(tc), MarginMSELoss(tc.temperature), tc.distill

    def forward(self, q, p, n, invalid=None, teacher_margins=None) -> torch.Tensor:
        loss = self.loss(q, p, n, invalid)
        if teacher_margins is not None:
            loss = loss + self.weight * self.distill(q, p, n, teacher_margins)
        return loss
