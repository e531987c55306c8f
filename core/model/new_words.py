"""Words a checkpoint never saw, made to count on a new corpus. A checkpoint's vocabulary is its
training corpus's words (and GloVe's most frequent): on another corpus, every other word would be
`<unk>`, with no meaning and no lexical weight. `with_words` gives an encoder of the same weights a
vocabulary grown by the new corpus's words: a word GloVe knows gets its GloVe vector, any other one
the `<unk>` vector, and each new word's lexical weight starts at its IDF in the new corpus, as the
checkpoint's own words started at theirs. The checkpoint file is not changed; its own words keep
every weight they learned."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from core.data.vocab import UNK_ID, Vocab, load_glove
from core.model.encoder import Encoder
from core.model.two_tower import TwoTower


def new_words(vocab: Vocab, tokens: list[list[str]]) -> list[str]:
    """The words of the tokenised texts that `vocab` lacks, in first-seen order."""
    return list(dict.fromkeys(w for words in tokens for w in words if w not in vocab.vocab_to_int))


def with_words(encoder: Encoder, tokens: list[list[str]], glove: str | None = None) -> Encoder:
    """`encoder` with the words of the passages it lacks added (see the module), given each passage
    tokenised (`core.data.text.tokenize`); the same encoder when there are none."""
    added = new_words(encoder.vocab, tokens)
    if not added:
        return encoder
    vocab = _grown_vocab(encoder.vocab, added, glove)
    ids = [vocab.token_ids(words)[: encoder.passage_len] or [UNK_ID] for words in tokens]
    model = _grown_model(encoder.model, vocab, ids, len(encoder.vocab))
    meta = {**encoder.meta, "new_words": len(added)}
    return Encoder(
        model, vocab, encoder.query_len, encoder.passage_len, encoder.batch_size, meta, encoder.workers
    )


def _grown_vocab(vocab: Vocab, added: list[str], glove: str | None) -> Vocab:
    words, vectors = load_glove(glove)
    row = {w: i for i, w in enumerate(words)}
    unk = vocab.vectors[UNK_ID]
    extra = np.stack([vectors[row[w]] if w in row else unk for w in added]).astype(np.float32)
    return Vocab(vocab.int_to_vocab + added, np.concatenate([vocab.vectors, extra]))


def _grown_model(model: TwoTower, vocab: Vocab, ids: list[list[int]], known: int) -> TwoTower:
    """A model of `vocab`'s size with `model`'s weights; rows past `known` are the new words', whose
    lexical priors are their IDF over the passages `ids`."""
    grown = TwoTower(dataclasses.replace(model.cfg, vocab_size=len(vocab)))
    state = model.state_dict()
    state["embedding.weight"] = torch.from_numpy(vocab.vectors.copy())
    state["embedding.weight"][:known] = model.embedding.weight.detach()
    if model.cfg.lexical:
        idf = vocab.idf(ids)[known:]
        prior = torch.log(torch.expm1(idf.clamp(min=1e-3)))  # softplus^-1, as `TwoTower.from_vocab`
        state["term_prior"] = torch.cat([model.term_prior.detach(), prior])
    grown.load_state_dict(state)
    return grown.eval()
