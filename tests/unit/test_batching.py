"""Training batches: similar lengths together, every triplet exactly once, the optimiser's groups."""

import numpy as np

from core.common.config import ModelConfig, TrainConfig
from core.data.collate import length_batches
from core.model.two_tower import TwoTower
from core.training.session import optimizer_for


def test_length_batches_keep_every_triplet_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = {f"p{i}": int(n) for i, n in enumerate(rng.integers(5, 128, 1000))}
    triplets = [(f"q{i}", f"p{i}", f"p{(i * 7) % 1000}") for i in range(1000)]

    def key(t):
        return max(lengths[t[1]], lengths[t[2]])

    batches = length_batches(triplets, key, 32, np.random.default_rng(1), window=10)
    assert sorted(t for b in batches for t in b) == sorted(triplets)
    assert all(len(b) == 32 for b in batches[:-1] if len(b) != 1000 % 32)
    spread = np.mean([max(map(key, b)) - min(map(key, b)) for b in batches])
    shuffled = [triplets[i : i + 32] for i in range(0, 1000, 32)]
    assert spread < 0.5 * np.mean([max(map(key, b)) - min(map(key, b)) for b in shuffled])


def test_word_vectors_get_their_own_learning_rate(glove_vocab):
    model = TwoTower.from_vocab(ModelConfig(hidden=8, out_dim=8, freeze_embeddings=False), glove_vocab)
    groups = optimizer_for(model, TrainConfig(lr=1e-3, embed_lr=1e-4)).param_groups
    assert [g["lr"] for g in groups] == [1e-3, 1e-4] and groups[1]["params"] == [model.embedding.weight]
    frozen = TwoTower.from_vocab(ModelConfig(hidden=8, out_dim=8, freeze_embeddings=True), glove_vocab)
    assert len(optimizer_for(frozen, TrainConfig()).param_groups) == 1
