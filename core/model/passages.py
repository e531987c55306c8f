"""Every passage's vector under one checkpoint, stored beside it as `passages.npz`, so that opening a
checkpoint in the app reads 22,000 vectors (half a second) instead of encoding them (about ten seconds
on two cores). The file names the checkpoint file's fingerprint and the corpus fingerprint it was made
for: anything else (another corpus, a retrained model, a damaged file) is ignored, and the passages are
encoded as before. `train` writes it for every run it publishes, `build` for any checkpoint it
indexes that lacks one.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from core.common.artifacts import write_atomic
from core.common.types import Tally
from core.model.encoder import Checkpoint, Encoder

FILE = "passages.npz"


def vectors_path(checkpoint: Checkpoint, folder: Path | None = None) -> Path:
    """Beside the checkpoint for its own corpus; `folder/NAME.npz` for an added corpus's `folder`."""
    return checkpoint.path.parent / FILE if folder is None else Path(folder) / f"{checkpoint.name}.npz"


def save_vectors(
    checkpoint: Checkpoint, vectors: np.ndarray, corpus_fingerprint: str, folder: Path | None = None
) -> Path:
    """Store `vectors` (corpus order) beside `checkpoint` (or in `folder`), whole or not at all."""
    path = vectors_path(checkpoint, folder)

    def write(f) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            checkpoint=np.array(checkpoint.fingerprint),
            corpus=np.array(corpus_fingerprint),
            vectors=vectors.astype(np.float32, copy=False),
        )
        f.write(buffer.getvalue())

    write_atomic(path, write)
    return path


def load_vectors(
    checkpoint: Checkpoint, corpus_fingerprint: str, passages: int, folder: Path | None = None
) -> np.ndarray | None:
    """The stored vectors when they were made by this checkpoint file for this corpus, else None."""
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
            vectors = stored["vectors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # damaged: encoded again by the caller
    return vectors if vectors.shape[0] == passages else None


def ensure_vectors(
    checkpoint: Checkpoint,
    texts: list[str],
    corpus_fingerprint: str,
    progress: Tally | None = None,
    folder: Path | None = None,
    encoder: Encoder | None = None,
) -> tuple[np.ndarray, bool]:
    """(every passage's vector, whether they were encoded now): the stored ones when they match, else
    encoded by `encoder` (the checkpoint's own by default; `progress` as `Encoder.encode_passages`)
    and stored beside the checkpoint, or in `folder`."""
    stored = load_vectors(checkpoint, corpus_fingerprint, len(texts), folder)
    if stored is not None:
        return stored, False
    vectors = (encoder or checkpoint.encoder).encode_passages(texts, progress=progress or False)
    save_vectors(checkpoint, vectors, corpus_fingerprint, folder)
    return vectors, True
