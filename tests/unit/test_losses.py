"""The losses by hand: triplet cosine, in-batch softmax and its mask for false negatives; the registry
(a toy loss added by one class and one entry trains through the CLI)."""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F

from core.model.losses import LOSSES, EmbeddingLoss, InBatchSoftmaxLoss, TripletCosineLoss, active_fraction


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


def test_several_negatives_per_query_are_each_compared_with_their_own_query():
    q = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    p = q.clone()
    # query 0's two negatives, then query 1's: only query 1's second negative is close to its query
    n = F.normalize(torch.tensor([[0.0, 1.0], [-1.0, 0.0], [1.0, 0.0], [0.1, 1.0]]), dim=-1)
    loss = TripletCosineLoss(margin=0.2).compute_loss_from_embeddings(q, p, n)
    d_close = 1 - float(n[3] @ q[1])
    assert torch.isclose(loss, torch.tensor((0 + 0 + 0 + (0 - d_close + 0.2)) / 4))
    assert active_fraction(q, p, n, 0.2) == 0.25
    logits = InBatchSoftmaxLoss(temperature=1.0).compute_loss_from_embeddings(q, p, n)
    assert torch.isfinite(logits)


def test_margin_mse_is_zero_when_the_student_keeps_the_teachers_margins():
    from core.model.losses import MarginMSELoss
    from core.training.teacher import Teacher

    q, p = unit([1.0, 0.0], [0.0, 1.0]), unit([1.0, 0.2], [0.1, 1.0])
    n = unit([0.5, 1.0], [1.0, 0.3])
    teacher = Teacher(["a", "b"], q.numpy(), ["pa", "pb", "na", "nb"], torch.cat([p, n]).numpy())
    margins = teacher.margins([("a", "pa", "na"), ("b", "pb", "nb")])
    assert margins.shape == (2, 1)
    loss = MarginMSELoss(temperature=0.05)
    assert float(loss.compute_loss_from_embeddings(q, p, n, margins)) < 1e-10
    off = float(loss.compute_loss_from_embeddings(q, p, n, margins + 0.05))
    assert math.isclose(off, 1.0, rel_tol=1e-4)  # a margin 0.05 off is 1 in units of 1/0.05


def test_a_loss_module_is_called_on_embeddings_like_its_math():
    q, p, n = unit([1, 0], [0, 1]), unit([1, 1], [0, 1]), unit([0, 1], [1, 0])
    for loss in (TripletCosineLoss(0.2), InBatchSoftmaxLoss(0.5)):
        assert torch.equal(loss(q, p, n), loss.compute_loss_from_embeddings(q, p, n))


def test_the_registry_names_each_loss_once_and_builds_it_from_its_settings():
    from core.common.config import TrainConfig
    from core.common.settings import CHOICES
    from core.model.losses import LOSSES, make_loss

    assert set(LOSSES) == set(CHOICES["loss"])
    triplet = make_loss(TrainConfig(loss="triplet", margin=0.3))
    inbatch = make_loss(TrainConfig(loss="inbatch", temperature=0.1))
    assert isinstance(triplet, TripletCosineLoss) and triplet.margin == 0.3
    assert isinstance(inbatch, InBatchSoftmaxLoss) and inbatch.temperature == 0.1


def test_the_objective_adds_weighted_distillation_by_hand():
    from core.common.config import TrainConfig
    from core.model.losses import Objective

    q, p, n = unit([1, 0]), unit([1, 0]), unit([0, 1])  # student margin cos(q,p) - cos(q,n) = 1
    objective = Objective(TrainConfig(loss="triplet", margin=0.2, temperature=0.5, distill=0.1))
    # triplet: max(0, 0 - 1 + 0.2) = 0; Margin-MSE against a teacher margin of 0: (1/0.5 - 0)^2 = 4
    assert math.isclose(objective(q, p, n).item(), 0.0, abs_tol=1e-7)
    assert math.isclose(objective(q, p, n, None, torch.zeros(1, 1)).item(), 0.1 * 4, rel_tol=1e-5)


class ToyLoss(EmbeddingLoss):
    """A loss added as the registry asks: one class (its name and label) and one entry in `LOSSES`.
    Mean cosine distance of each query to its positive; counts its calls."""

    name, label = "toy", "toy distance"
    calls = 0

    @classmethod
    def from_config(cls, tc) -> ToyLoss:
        return cls()

    def compute_loss_from_embeddings(self, q, p, n, invalid=None) -> torch.Tensor:
        ToyLoss.calls += 1
        return (1 - (q * p).sum(-1)).mean()


def test_a_toy_loss_added_by_one_class_and_one_entry_trains_a_step_through_the_cli(
    tmp_path, monkeypatch, capsys
):
    from core.common.settings import CHOICES
    from core.pipeline import cli
    from tests.conftest import tiny_rows

    monkeypatch.setitem(LOSSES, "toy", ToyLoss)
    monkeypatch.setattr(ToyLoss, "calls", 0)
    assert CHOICES["loss"]["toy"] == "toy distance", "the settings' choices are the registry's"
    data = tmp_path / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in tiny_rows()))
    args = ["train", "--out", str(tmp_path / "run"), "--source", str(data), "--loss", "toy"]
    sizes = ["--epochs", "1", "--batch-size", "64", "--hidden", "8", "--out-dim", "8", "--top-n", "500"]
    assert cli.main([*args, *sizes, "--val-fraction", "0.3", "--warmup-steps", "0"]) == 0, capsys.readouterr()
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert len(log["batches"]) == 1 and ToyLoss.calls == 1, "one step, with the toy loss"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["loss"] == "toy"


def test_a_loss_not_in_the_registry_is_refused_naming_the_registered_ones(tmp_path, capsys):
    from core.pipeline import cli
    from tests.unit.test_reliability import one_error_line

    code = cli.main(["train", "--out", str(tmp_path / "run"), "--source", "x.jsonl", "--loss", "toy"])
    assert code == 2 and "--loss must be inbatch or triplet, not 'toy'" in one_error_line(capsys)
