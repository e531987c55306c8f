"""The two-tower model: padding, shared and separate towers, frozen embeddings, checkpoints, the Encoder."""

import dataclasses

import numpy as np
import pytest
import torch

from core.common.artifacts import CheckpointError
from core.common.config import ModelConfig
from core.data.collate import pad
from core.model.encoder import Encoder
from core.model.two_tower import TwoTower, load_checkpoint, save_checkpoint
from tests.conftest import whole

TEXTS = [
    "how is coffee made",
    "paris",
    "the moon orbits the earth every month and astronauts walked on it in 1969",
    "what kind of snake is a python",
]


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(tower="gru", pooling="mean"),
        ModelConfig(tower="gru", pooling="last", bidirectional=True, layers=2, mean_path=False),
        ModelConfig(tower="gru", pooling="last", bidirectional=False, shared=False),
        ModelConfig(tower="avg", out_dim=0),
    ],
    ids=["gru-mean", "bigru2-last", "gru-last-separate", "avg"],
)
def test_padding_invariance(glove_vocab, cfg):
    torch.manual_seed(0)
    model = TwoTower.from_vocab(cfg, glove_vocab).eval()
    ids = [glove_vocab.encode(t, 64) for t in TEXTS]
    width = len(glove_vocab)
    with torch.no_grad():
        batch = whole(model.encode_passage(*pad(ids)), width)
        for i, x in enumerate(ids):
            alone = whole(model.encode_passage(*pad([x])), width)
            assert np.allclose(alone[0], batch[i], atol=1e-5), TEXTS[i]
            # extra padding columns change nothing either
            padded = torch.cat([pad([x])[0], torch.zeros(1, 9, dtype=torch.long)], 1)
            assert np.allclose(
                whole(model.encode_passage(padded, torch.tensor([len(x)])), width)[0], batch[i], atol=1e-5
            )
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)


def test_shared_and_separate_towers(glove_vocab):
    shared = TwoTower.from_vocab(ModelConfig(shared=True), glove_vocab)
    separate = TwoTower.from_vocab(ModelConfig(shared=False), glove_vocab)
    assert len(shared.towers) == 1 and len(separate.towers) == 2
    x = pad([glove_vocab.encode("paris france", 8)])
    width = len(glove_vocab)
    with torch.no_grad():
        assert np.array_equal(whole(shared.encode_query(*x), width), whole(shared.encode_passage(*x), width))
        assert not np.allclose(
            whole(separate.encode_query(*x), width), whole(separate.encode_passage(*x), width)
        )


def test_frozen_embeddings(glove_vocab):
    assert not TwoTower.from_vocab(
        ModelConfig(freeze_embeddings=True), glove_vocab
    ).embedding.weight.requires_grad
    assert TwoTower.from_vocab(
        ModelConfig(freeze_embeddings=False), glove_vocab
    ).embedding.weight.requires_grad


def test_checkpoint_round_trip(glove_vocab, tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(hidden=32, out_dim=16)
    model = TwoTower.from_vocab(cfg, glove_vocab).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(
        path, model, glove_vocab, {"data": {"query_len": 16, "passage_len": 64}, "val": {"mrr@10": 0.5}}
    )
    back, vocab, meta = load_checkpoint(path)
    assert back.cfg == dataclasses.replace(cfg, vocab_size=len(glove_vocab), embed_dim=50)
    assert vocab.int_to_vocab == glove_vocab.int_to_vocab and meta["val"]["mrr@10"] == 0.5
    before = whole(Encoder(model, glove_vocab, 16, 64).encode_passages(TEXTS))
    after = Encoder.from_checkpoint(path)
    assert after.passage_len == 64 and after.query_len == 16
    # word vectors are stored as fp16 when frozen: encodings agree to fp16 precision
    assert abs(whole(after.encode_passages(TEXTS)) - before).max() < 2e-3
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"format": 99}, other)
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(other)


def test_encoder_keeps_input_order(glove_vocab):
    enc = Encoder.glove_average(glove_vocab)
    enc.batch_size = 2
    vecs = whole(enc.encode_passages(TEXTS))
    for i, t in enumerate(TEXTS):
        assert abs(whole(enc.encode_passages([t]))[0] - vecs[i]).max() < 1e-5


def test_threaded_encoding_matches_one_thread_and_restores_torch_threads(glove_vocab):
    torch.manual_seed(0)
    model = TwoTower.from_vocab(ModelConfig(), glove_vocab)
    texts = TEXTS * 20  # 80 texts in 10 batches of 8
    one = whole(Encoder(model, glove_vocab, batch_size=8, workers=1).encode_passages(texts))
    threads = torch.get_num_threads()
    seen = []
    many = whole(
        Encoder(model, glove_vocab, batch_size=8, workers=4).encode_passages(
            texts, progress=lambda d, t: seen.append(d)
        )
    )
    assert abs(many - one).max() < 1e-6
    assert seen == list(range(8, 81, 8)) and torch.get_num_threads() == threads
