"""Every passage's vector under one checkpoint (`Encoded`: its dense part and its sparse lexical part),
stored beside it as `passages.npz`, so that opening a checkpoint in the app reads 22,000 vectors
(half a second) instead of encoding them (about ten seconds on two cores). The file names the
checkpoint file's fingerprint and the corpus fingerprint it was made for, and its content is checked
(finite unit rows, one per passage, a few equal to the checkpoint's own encoding): anything else
(another corpus, a retrained model, a damaged file) is ignored, and the passages are encoded as
before. `train` writes it for every run it publishes, `build` for any checkpoint it indexes that
lacks one.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from core.common.artifacts import write_atomic
from core.common.types import Tally
from core.model.encoded import Encoded
from core.model.encoder import Checkpoint, Encoder

FILE = "passages.npz"
CHECKED = 8  # stored rows compared with the checkpoint's own encoding before the file is used
TOLERANCE = 1e-3  # on a vector's length, and between a stored and a fresh encoding


def vectors_path(checkpoint: Checkpoint, folder: Path | None = None) -> Path:
    """Beside the checkpoint for its own corpus; `folder/NAME.npz` for an added corpus's `folder`."""
    return checkpoint.path.parent / FILE if folder is None else Path(folder) / f"{checkpoint.name}.npz"


def save_vectors(
    checkpoint: Checkpoint, vectors: Encoded, corpus_fingerprint: str, folder: Path | None = None
) -> Path:
    """Store `vectors` (corpus order) beside `checkpoint` (or in `folder`), whole or not at all."""
    path = vectors_path(checkpoint, folder)

    def write(f) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            checkpoint=np.array(checkpoint.fingerprint),
            corpus=np.array(corpus_fingerprint),
            dense=vectors.dense.astype(np.float32, copy=False),
            data=vectors.lexical.data.astype(np.float32, copy=False),
            indices=vectors.lexical.indices,
            indptr=vectors.lexical.indptr,
            shape=np.array(vectors.lexical.shape),
        )
        f.write(buffer.getvalue())

    write_atomic(path, write)
    return path


def load_vectors(
    checkpoint: Checkpoint,
    corpus_fingerprint: str,
    texts: list[str],
    folder: Path | None = None,
    encoder: Encoder | None = None,
) -> Encoded | None:
    """The stored vectors when they were made by this checkpoint file for this corpus (the passages
    `texts`; in `folder` for an added corpus, encoded by `encoder`, the checkpoint's own by default)
    and their content is sound (`sound`), else None: the caller encodes the passages again."""
    path = vectors_path(checkpoint, folder)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            if (str(stored["checkpoint"]), str(stored["corpus"])) != (
                checkpoint.fingerprint,
                corpus_fingerprint,
            ):
                return None
            lexical = sp.csr_matrix(
                (stored["data"], stored["indices"], stored["indptr"]), shape=tuple(stored["shape"])
            )
            vectors = Encoded(stored["dense"], lexical)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None  # damaged: encoded again by the caller
    return vectors if sound(encoder or checkpoint.encoder, vectors, texts) else None


def sound(encoder: Encoder, vectors: Encoded, texts: list[str]) -> bool:
    """Whether `vectors` can be what `encoder` gives the passages `texts`: a float row per passage,
    finite and of unit length, and CHECKED rows spread over the corpus equal (within TOLERANCE) to the
    encoder's own encoding of those passages, which also fixes the widths."""
    dense, lexical = vectors.dense, vectors.lexical
    if dense.ndim != 2 or len(vectors) != len(texts) or lexical.shape[0] != len(texts):
        return False
    if dense.dtype.kind != "f" or lexical.dtype.kind != "f":
        return False
    if not texts:
        return True
    finite = np.isfinite(dense).all() and np.isfinite(lexical.data).all()
    if not finite or np.abs(vectors.norms() - 1).max() > TOLERANCE:
        return False
    rows = np.unique(np.linspace(0, len(texts) - 1, CHECKED).astype(int))
    fresh = encoder.encode_passages([texts[i] for i in rows], progress=False)
    if fresh.width != vectors.width:
        return False
    stored = vectors[rows]
    lexical_gap = abs(fresh.lexical - stored.lexical).max() if fresh.lexical.shape[1] else 0.0
    return max(np.abs(fresh.dense - stored.dense).max(), lexical_gap) <= TOLERANCE


def ensure_vectors(
    checkpoint: Checkpoint,
    texts: list[str],
    corpus_fingerprint: str,
    progress: Tally | None = None,
    folder: Path | None = None,
    encoder: Encoder | None = None,
) -> tuple[Encoded, bool]:
    """(every passage's vector, whether they were encoded now): the stored ones when they match, else
    encoded by `encoder` (the checkpoint's own by default; `progress` as `Encoder.encode_passages`)
    and stored beside the checkpoint, or in `folder`."""
    stored = load_vectors(checkpoint, corpus_fingerprint, texts, folder, encoder)
    if stored is not None:
        return stored, False
    vectors = (encoder or checkpoint.encoder).encode_passages(texts, progress=progress or False)
    save_vectors(checkpoint, vectors, corpus_fingerprint, folder)
    return vectors, True
