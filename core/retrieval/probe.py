"""The Chroma index health check, run apart from the app: damaged HNSW files can crash Chroma's
bindings (a segmentation fault) or hang them, which no `try` catches, so `index.open_index` runs this
module as a child process (`python -m core.retrieval.probe FOLDER COLLECTION SIZE LOCK`) and takes
anything but exit 0 within its time for "damaged". It imports only Chroma and NumPy, to start fast.

A collection answers when it holds `size` vectors, each finite and of unit length, and one search
for a stored vector asked for every passage walks the whole graph back to all of them (the passage
itself first), at the distances its stored vectors give.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 1e-3  # on a unit vector's length and on a cosine distance
SECONDS = 300  # a check still running after this long is taken for a hang: damaged
ROOT = Path(__file__).resolve().parents[2]  # where the child process imports `core` from


def answers(col, size: int) -> bool:
    """Whether the collection `col` holds `size` sound vectors and a search reaches them all."""
    try:
        if col.count() != size:
            return False
        if size == 0:
            return True
        stored = col.get(include=["embeddings"])
        vectors = np.asarray(stored["embeddings"], dtype=np.float32)
        if len(set(stored["ids"])) != size or vectors.shape[0] != size or not np.isfinite(vectors).all():
            return False
        if np.abs(np.linalg.norm(vectors, axis=1) - 1).max() > TOLERANCE:
            return False
        found = col.query(query_embeddings=vectors[:1], n_results=size, include=["distances"])
        ids, distances = found["ids"][0], np.asarray(found["distances"][0], dtype=np.float64)
        if len(ids) != size or set(ids) != set(stored["ids"]) or ids[0] != stored["ids"][0]:
            return False
        row = {pid: i for i, pid in enumerate(stored["ids"])}
        expected = 1 - vectors[[row[i] for i in ids]] @ vectors[0]
        return bool(np.abs(distances - expected).max() <= TOLERANCE)
    except Exception:
        return False


def answers_apart(folder: str, collection: str, size: int, lock: str | Path) -> bool:
    """`answers` for a collection of the embedded Chroma folder `folder`, checked in a child process
    that opens the folder holding `lock` (as `index.chroma_client` does): a crash, a hang past
    SECONDS or a failed check all read as damaged."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "core.retrieval.probe", folder, collection, str(size), str(lock)]
    try:
        done = subprocess.run(
            command, env={**os.environ, "PYTHONPATH": path}, capture_output=True, timeout=SECONDS
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0


def main(folder: str, collection: str, size: str, lock: str) -> int:
    import chromadb
    from chromadb.config import Settings

    from core.common.outputs import hold

    with hold(lock, f"the Chroma folder {folder}", wait=True):  # as `index.chroma_client` opens it
        client = chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))
    try:
        col = client.get_collection(collection, embedding_function=None)
    except Exception:
        return 1
    return 0 if answers(col, int(size)) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
