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
import shutil
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from core.common.artifacts import write_atomic
from core.common.types import Tally
from core.model.encoded import Encoded
from core.model.encoder import Checkpoint, Encoder

FILE = "passages.npz"
PART = 10_000  # passages encoded, then written to disk, at a time
NAMES = ("checkpoint", "corpus", "rows")  # what a stored file says it was made from
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
    write_atomic(
        path, lambda f: f.write(_npz(vectors, checkpoint=checkpoint.fingerprint, corpus=corpus_fingerprint))
    )
    return path


def _npz(vectors: Encoded, **names: str) -> bytes:
    """`vectors` (and the strings `names`) as the bytes of a compressed .npz file."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        **{k: np.array(v) for k, v in names.items()},
        dense=vectors.dense.astype(np.float32, copy=False),
        data=vectors.lexical.data.astype(np.float32, copy=False),
        indices=vectors.lexical.indices,
        indptr=vectors.lexical.indptr,
        shape=np.array(vectors.lexical.shape),
    )
    return buffer.getvalue()


def _read_npz(path: Path) -> tuple[dict[str, str], Encoded] | None:
    """(the strings stored beside them, the vectors) of an .npz `_npz` wrote; None when it is
    missing or damaged."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            names = {k: str(stored[k]) for k in NAMES if k in stored.files}
            lexical = sp.csr_matrix(
                (stored["data"], stored["indices"], stored["indptr"]), shape=tuple(stored["shape"])
            )
            return names, Encoded(stored["dense"], lexical)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None


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
    stored = _read_npz(vectors_path(checkpoint, folder))
    if stored is None:
        return None  # missing or damaged: encoded again by the caller
    names, vectors = stored
    if (names.get("checkpoint"), names.get("corpus")) != (checkpoint.fingerprint, corpus_fingerprint):
        return None
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
    progress: bool | Tally | None = None,
    folder: Path | None = None,
    encoder: Encoder | None = None,
) -> tuple[Encoded, bool]:
    """(every passage's vector, whether they were encoded now): the stored ones when they match, else
    encoded by `encoder` (the checkpoint's own by default; `progress` True for a bar with the rate and
    the time left, or a callable given (done, total)) `PART` passages at a time, each part kept on disk
    until all are done, so that a killed encoding resumes at its first missing part; then stored beside
    the checkpoint, or in `folder`."""
    stored = load_vectors(checkpoint, corpus_fingerprint, texts, folder, encoder)
    if stored is not None:
        return stored, False
    encoder, path = encoder or checkpoint.encoder, vectors_path(checkpoint, folder)
    key = {"checkpoint": checkpoint.fingerprint, "corpus": corpus_fingerprint, "rows": str(len(texts))}
    vectors = encode_in_parts(encoder, texts, parts_folder(path), key, progress)
    save_vectors(checkpoint, vectors, corpus_fingerprint, folder)
    shutil.rmtree(parts_folder(path), ignore_errors=True)
    return vectors, True


def parts_folder(path: Path) -> Path:
    """Where the parts of an encoding into `path` are kept until it is complete."""
    return path.parent / f".{path.name}.parts"


def encode_in_parts(
    encoder: Encoder, texts: list[str], folder: Path, key: dict[str, str], progress: bool | Tally | None
) -> Encoded:
    """Every text's vector, `PART` texts at a time, each part written to `folder` (`NNNNN.npz`, with
    `key`) as it is done; a part already there with this key and its size is read, not encoded."""
    total, parts = len(texts), []
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="encode", unit="passage", leave=False)
    try:
        for number, start in enumerate(range(0, total, PART)):
            chunk, file = texts[start : start + PART], folder / f"{number:05d}.npz"
            stored = _read_npz(file)
            if stored is not None and stored[0] == key and len(stored[1]) == len(chunk):
                part = stored[1]
            else:
                report = (lambda done, _, s=start: progress(s + done, total)) if callable(progress) else False
                part = encoder.encode_passages(chunk, progress=report)
                write_atomic(file, lambda f, p=part: f.write(_npz(p, **key)))
            parts.append(part)
            if bar is not None:
                bar.update(len(chunk))
            if callable(progress):
                progress(start + len(chunk), total)
    finally:
        if bar is not None:
            bar.close()
    return Encoded.stack(parts) if parts else encoder.encode_passages([])
