"""The vocabulary: <pad> and <unk>, GloVe restricted to the corpus, encoding, save and load, bad GloVe
files."""

import numpy as np
import pytest

from core.data.vocab import PAD, PAD_ID, UNK, UNK_ID, Vocab, load_glove


def test_pad_and_unk(glove_vocab):
    v = glove_vocab
    assert v.int_to_vocab[PAD_ID] == PAD and v.vocab_to_int[PAD] == 0
    assert v.int_to_vocab[UNK_ID] == UNK and v.vocab_to_int[UNK] == 1
    m = v.embedding_matrix()
    assert m.dtype.is_floating_point and m.shape == (len(v), 50)
    assert not m[PAD_ID].any()
    words, vecs = load_glove()
    # <unk> is the mean of the kept GloVe vectors; other rows are GloVe's own
    assert np.allclose(m[UNK_ID].numpy(), v.vectors[2:].mean(0), atol=1e-6)
    assert np.allclose(v.vectors[v.vocab_to_int["coffee"]], vecs[words.index("coffee")])


def test_restricted_vocab_keeps_corpus_words_and_top_n(glove_vocab):
    assert "espresso" in glove_vocab.vocab_to_int  # a corpus word outside the top 2000
    assert "the" in glove_vocab.vocab_to_int
    assert 2000 < len(glove_vocab) < 2200


def test_encode_unknown_and_compound(glove_vocab):
    v = glove_vocab
    assert v.encode("zzqxv", 10) == [UNK_ID]
    assert v.encode("", 10) == [UNK_ID]  # never empty
    assert v.encode("coffee-snake", 10) == [v.vocab_to_int["coffee"], v.vocab_to_int["snake"]]
    assert len(v.encode("the " * 50, 7)) == 7


def test_save_load_round_trip(glove_vocab, tmp_path):
    path = tmp_path / "vocab.npz"
    glove_vocab.save(path)
    back = Vocab.load(path)
    assert back.int_to_vocab == glove_vocab.int_to_vocab
    assert np.array_equal(back.vectors, glove_vocab.vectors)
    assert back.fingerprint() == glove_vocab.fingerprint()
    with np.load(path, allow_pickle=False) as f:  # no pickled objects inside
        assert set(f.files) == {"words", "vectors"}


def test_glove_text_file(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text("the 0.1 0.2 0.3\ncat 1 2 3\ndog -1 0 1\n")
    v = Vocab.from_glove(str(path))
    assert v.int_to_vocab == [PAD, UNK, "the", "cat", "dog"]
    assert v.dim == 3 and np.allclose(v.vectors[1], [0.1 / 3, 2.2 / 3, 4.3 / 3])
    assert Vocab.from_glove(str(path), keep={"dog"}, top_n=1).int_to_vocab == [PAD, UNK, "the", "dog"]


def test_bad_glove_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_glove(str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2\ncat 1\n")
    with pytest.raises(ValueError):
        load_glove(str(bad))
