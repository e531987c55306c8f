"""The lexical path of the towers: a learned weight per word, each word its own dimension beside the
dense vector."""

import dataclasses

import numpy as np
import torch

from core.common.config import ModelConfig
from core.data.collate import pad
from core.data.vocab import UNK_ID, Vocab
from core.model.two_tower import TwoTower, joint, load_checkpoint, save_checkpoint
from tests.conftest import TOPICS, whole

LEX = ModelConfig(hidden=16, out_dim=16, lexical=True)


def model_for(vocab, cfg=LEX, idf=None):
    torch.manual_seed(0)
    return TwoTower.from_vocab(cfg, vocab, idf=idf).eval()


def test_vectors_are_unit_and_padding_changes_nothing(glove_vocab):
    model = model_for(glove_vocab)
    ids = [glove_vocab.encode(t, 32) for t in ("paris france", "the moon orbits the earth every month")]
    width = len(glove_vocab)
    with torch.no_grad():
        batch = whole(model.encode_passage(*pad(ids)), width)
        assert batch.shape == (2, 16 + width) and np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
        for i, x in enumerate(ids):
            assert np.allclose(whole(model.encode_passage(*pad([x])), width)[0], batch[i], atol=1e-5)
        held = np.flatnonzero(batch[0, 16:])  # "paris", "france": a dimension each, nothing else
        assert sorted(held) == sorted(set(ids[0]))


def test_a_shared_rare_word_raises_the_lexical_score(glove_vocab):
    """With every dense weight at zero only IDF-weighted term overlap is left: the passage that holds
    the query's rare word scores higher than one that holds only a common word of it."""
    passages = [glove_vocab.encode(t, 32) for ts in TOPICS.values() for t in ts] + [
        glove_vocab.encode("the", 4)
    ] * 9
    model = model_for(glove_vocab, idf=glove_vocab.idf(passages))
    with torch.no_grad():
        for p in model.towers[0].proj.parameters():
            p.zero_()
    q = pad([glove_vocab.encode("espresso the", 8)])
    rare, common = (pad([glove_vocab.encode(t, 16)]) for t in ("espresso is strong", "the is strong"))
    with torch.no_grad():
        qv, rv, cv = joint(model.encode_query(*q), model.encode_passage(*rare), model.encode_passage(*common))
        assert (qv @ rv.T).item() > (qv @ cv.T).item() + 0.1


def test_term_weights_follow_the_idf_and_ignore_padding_and_unknown_words(glove_vocab):
    idf = torch.linspace(0.5, 5.0, len(glove_vocab))
    model = model_for(glove_vocab, idf=idf)
    ids, lengths = pad([[5, 9, UNK_ID], [7]])
    with torch.no_grad():
        w = model.term_weights(ids, lengths, torch.zeros(ids.shape))
    assert torch.allclose(w[0, :2], idf[[5, 9]], atol=1e-4)  # softplus(prior) starts at the IDF
    assert w[0, 2] == 0 and w[1, 1:].eq(0).all()  # <unk> and padding weigh nothing


def test_round_trip_keeps_the_lexical_path(glove_vocab, tmp_path):
    model = model_for(glove_vocab)
    save_checkpoint(tmp_path / "m.pt", model, glove_vocab, {})
    back, _, _ = load_checkpoint(tmp_path / "m.pt")
    x = pad([glove_vocab.encode("how is coffee made", 8)])
    with torch.no_grad():
        assert np.allclose(
            whole(back.encode_query(*x), len(glove_vocab)),
            whole(model.encode_query(*x), len(glove_vocab)),
            atol=1e-3,
        )
    assert back.cfg == dataclasses.replace(LEX, vocab_size=len(glove_vocab), embed_dim=50)


def test_keep_oov_gives_unknown_corpus_words_ids_of_their_own():
    texts = ["zzqxvword is not in glove", "paris france"]
    plain, kept = Vocab.for_texts(texts, top_n=100), Vocab.for_texts(texts, top_n=100, keep_oov=True)
    assert plain.encode("zzqxvword", 4) == [UNK_ID]
    (i,) = kept.encode("zzqxvword", 4)
    assert i != UNK_ID and (kept.vectors[i] == kept.vectors[UNK_ID]).all()
    assert kept.encode("paris", 4) == plain.encode("paris", 4)


def test_idf_is_bm25s(glove_vocab):
    idf = glove_vocab.idf([[5, 6], [5], [5, 7, 7]])
    n = 3
    assert torch.isclose(idf[5], torch.log1p(torch.tensor((n - 3 + 0.5) / 3.5)))
    assert torch.isclose(idf[7], torch.log1p(torch.tensor((n - 1 + 0.5) / 1.5))) and idf[8] > idf[7]
