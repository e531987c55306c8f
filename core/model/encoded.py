"""Encoded texts as the search side holds them: `Encoded`, each text's unit vector in two parts, the
dense part (N, D) and the lexical part over the vocabulary (N, V), sparse (SciPy CSR: a text holds a
few dozen of the vocabulary's words). Scores are exact dot products of the whole vectors; the lexical
part's inverted index (words x texts) is made once, on first use. NumPy and SciPy only: a process that
only searches an index never loads torch."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

CHUNK = 256  # query rows scored at a time: bounds the sparse product's memory


@dataclass(frozen=True, eq=False)
class Encoded:
    """N texts' unit vectors: `dense` (N, D) float32 and `lexical` (N, V) float32 CSR, zero columns
    without a lexical path. Row i's vector is `[dense[i], lexical[i]]`."""

    dense: np.ndarray
    lexical: sp.csr_matrix

    @classmethod
    def of_dense(cls, dense: np.ndarray) -> Encoded:
        """Vectors with no lexical part (a model without one)."""
        return cls(np.asarray(dense, dtype=np.float32), sp.csr_matrix((len(dense), 0), dtype=np.float32))

    @classmethod
    def stack(cls, parts: list[Encoded]) -> Encoded:
        if not parts:
            return cls.of_dense(np.zeros((0, 0), np.float32))
        return cls(np.concatenate([p.dense for p in parts]), sp.vstack([p.lexical for p in parts], "csr"))

    def __len__(self) -> int:
        return self.dense.shape[0]

    def __getitem__(self, rows) -> Encoded:
        rows = np.atleast_1d(np.arange(len(self))[rows])
        return Encoded(self.dense[rows], self.lexical[rows])

    @property
    def width(self) -> tuple[int, int]:
        """(D, V): the dense part's dimensions, the vocabulary's."""
        return self.dense.shape[1], self.lexical.shape[1]

    def norms(self) -> np.ndarray:
        """(N,) each whole vector's length: 1 for a unit vector."""
        lexical = np.asarray(self.lexical.multiply(self.lexical).sum(axis=1)).ravel()
        return np.sqrt((self.dense.astype(np.float64) ** 2).sum(axis=1) + lexical)

    def directions(self) -> np.ndarray:
        """(N, D) the dense parts at unit length: what a dense index (Chroma) holds, and maps place."""
        norm = np.linalg.norm(self.dense, axis=1, keepdims=True)
        return self.dense / np.maximum(norm, 1e-12)

    @cached_property
    def inverted(self) -> sp.csr_matrix:
        """(V, N) the lexical part by word: each word's texts and weights (an inverted index)."""
        return self.lexical.T.tocsr()

    def scores(self, passages: Encoded) -> np.ndarray:
        """(Q, N) exact scores of these (query) vectors with every one of `passages`: the dense parts'
        dot products plus the lexical parts', summed over the words the two share."""
        out = self.dense @ passages.dense.T
        if self.lexical.nnz and passages.lexical.nnz:
            for start in range(0, len(self), CHUNK):
                shared = self.lexical[start : start + CHUNK] @ passages.inverted  # (chunk, N) sparse
                out[start : start + CHUNK] += shared.toarray()
        return out

    def lexical_scores(self, passages: Encoded) -> np.ndarray:
        """(Q, N) the lexical parts' dot products alone (what the words find), from the inverted index."""
        if not (self.lexical.nnz and passages.lexical.nnz):
            return np.zeros((len(self), len(passages)), np.float32)
        return (self.lexical @ passages.inverted).toarray()
