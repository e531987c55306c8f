"""The losses by hand: triplet cosine, in-batch softmax and its mask for false negatives."""

import math

import torch
import torch.nn.functional as F

from core.losses import InBatchSoftmaxLoss, TripletCosineLoss, active_fraction


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_triplet_cosine_by_hand():
    q = unit([1, 0], [1, 0])
    p = unit([1, 0], [0, 1])  # cos 1, cos 0
    n = unit([0, 1], [1, 0])  # cos 0, cos 1
    loss = TripletCosineLoss(margin=0.2).compute_loss_from_embeddings(q, p, n)
    # triplet 1: d_pos 0, d_neg 1 -> max(0, 0 - 1 + .2) = 0; triplet 2: d_pos 1, d_neg 0 -> 1.2
    assert math.isclose(loss.item(), 0.6, abs_tol=1e-6)
    assert active_fraction(q, p, n, 0.2) == 0.5


def test_in_batch_by_hand():
    q = unit([1, 0], [0, 1])
    p = unit([1, 0], [0, 1])
    n = unit([-1, 0], [0, -1])
    t = 0.5
    loss = InBatchSoftmaxLoss(temperature=t).compute_loss_from_embeddings(q, p, n)
    # query 1 scores over [p1, p2, n1, n2] = [1, 0, -1, 0] / t
    logits = torch.tensor([1.0, 0.0, -1.0, 0.0]) / t
    expected = -torch.log_softmax(logits, 0)[0]
    assert math.isclose(loss.item(), expected.item(), rel_tol=1e-5)


def test_in_batch_mask_removes_false_negatives():
    q = unit([1, 0], [1, 0.01])
    p = unit([1, 0], [1, 0.01])  # query 1's positive equals query 2's: not a negative
    n = unit([0, 1], [0, 1])
    loss_fn = InBatchSoftmaxLoss(temperature=0.05)
    unmasked = loss_fn.compute_loss_from_embeddings(q, p, n)
    invalid = torch.tensor([[False, True, False, False], [True, False, False, False]])
    masked = loss_fn.compute_loss_from_embeddings(q, p, n, invalid)
    assert masked < unmasked and masked.item() < 1e-3
