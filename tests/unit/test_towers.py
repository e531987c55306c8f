"""The towers (`settings.CHOICES["tower"]`: GRU, average, plain RNN, LSTM), one- or two-directional:
each encodes unit vectors that padding never changes, says in its checkpoint which tower it holds
and loads back to the same vectors, and explains a score as meaning + shared words that add up to
it. The committed checkpoints load unchanged: the same vectors, bit for bit, as before the RNN and
LSTM towers existed (tests/unit/data/hard_vectors.npz, encoded by that code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.common.config import ModelConfig
from core.common.settings import CHOICES
from core.data.collate import pad
from core.model.encoder import Encoder, encoded
from core.model.two_tower import TOWERS, TwoTower, file_fingerprint, load_checkpoint, save_checkpoint
from core.retrieval.dense import DenseRanker
from tests.conftest import whole
from tests.unit.test_explain import QUERIES, assert_adds_up, catalog, checkpoint  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
HARD = ROOT / "artifacts" / "hard" / "model.pt"
BEFORE = Path(__file__).parent / "data" / "hard_vectors.npz"
TEXTS = ["how is coffee made", "paris", "the moon orbits the earth every month", "what kind of snake"]
# every tower, the recurrent ones one- and two-directional, with either pooling and more than one layer
SHAPES = [
    ("avg", True, "mean", 1),
    *((t, bi, p, n) for t in ("rnn", "gru", "lstm") for bi, p, n in ((True, "mean", 1), (False, "last", 2))),
]


def test_the_settings_list_the_towers_the_model_builds():
    assert set(CHOICES["tower"]) == set(TOWERS) == {"avg", "rnn", "gru", "lstm"}


@pytest.mark.parametrize("tower, bidirectional, pooling, layers", SHAPES)
def test_each_tower_encodes_unit_vectors_that_padding_never_changes(
    glove_vocab, tower, bidirectional, pooling, layers
):
    torch.manual_seed(0)
    cfg = ModelConfig(tower=tower, bidirectional=bidirectional, pooling=pooling, layers=layers, hidden=8)
    model = TwoTower.from_vocab(cfg, glove_vocab).eval()
    ids = [glove_vocab.encode(t, 32) for t in TEXTS]
    width = len(glove_vocab)
    with torch.no_grad():
        batch = encoded(model.encode_passage(*pad(ids)), width)
        for i, x in enumerate(ids):
            padded = torch.cat([pad([x])[0], torch.zeros(1, 7, dtype=torch.long)], 1)
            alone = encoded(model.encode_passage(padded, torch.tensor([len(x)])), width)
            assert np.allclose(alone.dense[0], batch.dense[i], atol=1e-5), (tower, TEXTS[i])
            assert abs(alone.lexical - batch.lexical[i]).max() < 1e-5, (tower, TEXTS[i])
    assert np.allclose(batch.norms(), 1, atol=1e-5)


@pytest.mark.parametrize("tower, bidirectional, pooling, layers", SHAPES)
def test_a_checkpoint_says_which_tower_it_holds_and_loads_to_the_same_vectors(
    glove_vocab, tmp_path, tower, bidirectional, pooling, layers
):
    torch.manual_seed(0)
    cfg = ModelConfig(tower=tower, bidirectional=bidirectional, pooling=pooling, layers=layers, hidden=8)
    model = TwoTower.from_vocab(cfg, glove_vocab).eval()
    save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {})
    stored = torch.load(tmp_path / "model.pt", weights_only=True)
    assert stored["model_config"]["tower"] == tower
    recurrent = {k.split(".")[2] for k in stored["state_dict"] if k.count(".") > 3}
    assert recurrent == (set() if tower == "avg" else {tower}), "weights named after the tower"
    if tower != "avg":  # the cell it names: a plain RNN has 1 block of input weights, a GRU 3, an LSTM 4
        rows = stored["state_dict"][f"towers.0.{tower}.forward_layers.0.weight_ih_l0"].shape[0]
        assert rows == {"rnn": 1, "gru": 3, "lstm": 4}[tower] * cfg.hidden
    loaded, vocab, _ = load_checkpoint(tmp_path / "model.pt")
    ids = pad([glove_vocab.encode(t, 32) for t in TEXTS])
    with torch.no_grad():
        assert all(map(torch.equal, loaded.encode_query(*ids), model.encode_query(*ids)))
    assert loaded.cfg == model.cfg


def test_a_checkpoint_of_one_tower_is_never_read_as_another(glove_vocab, tmp_path):
    save_checkpoint(
        tmp_path / "model.pt", TwoTower.from_vocab(ModelConfig(tower="lstm"), glove_vocab), glove_vocab, {}
    )
    stored = torch.load(tmp_path / "model.pt", weights_only=True)
    stored["model_config"]["tower"] = "gru"
    torch.save(stored, tmp_path / "relabelled.pt")
    with pytest.raises(Exception, match="corrupt or incompatible"):
        load_checkpoint(tmp_path / "relabelled.pt")


@pytest.mark.skipif(
    not HARD.is_file() or file_fingerprint(HARD) != str(np.load(BEFORE)["checkpoint"]),
    reason="needs the committed artifacts/hard/model.pt the reference vectors were encoded with",
)
def test_the_committed_checkpoint_gives_the_same_vectors_bit_for_bit():
    before = np.load(BEFORE)
    encoder = Encoder.from_checkpoint(HARD)
    texts = [str(t) for t in before["texts"]]
    assert np.array_equal(whole(encoder.encode_queries(texts)), before["queries"])
    assert np.array_equal(whole(encoder.encode_passages(texts)), before["passages"])


@pytest.mark.parametrize("tower", ["avg", "rnn", "lstm"])
def test_every_towers_score_is_meaning_plus_shared_words(glove_vocab, catalog, tmp_path, tower):
    engine = DenseRanker("tiny", checkpoint(glove_vocab, tmp_path, True, tower), catalog, tmp_path / "chroma")
    for query in QUERIES:
        found = assert_adds_up(engine, query)
        assert all([p.label for p in e.parts] == ["meaning", "shared words"] for e in found)
    row = engine.catalog.texts.index("paris is the capital city of france")
    words = dict(assert_adds_up(engine, QUERIES[0])[row].parts[1].words)
    assert {"capital", "france"} <= set(words) and words["france"] > 0
