"""Damaged index files never take the process down: a seeded schedule of 20 byte ranges of random bytes
in each kind of file an embedded Chroma folder holds (HNSW data, header, link lists, metadata, the
SQLite database), each followed by a search in a new process (forked from a server that imported
Chroma once), as the app, `build` and `mine` open an index. None may crash (a signal) or hang; each
answers as the undamaged index did (rebuilt when the damage was seen) or says what is wrong as one
`error:` line."""

from __future__ import annotations

import multiprocessing
import random
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = 20  # byte ranges per file kind
KINDS = {  # a kind -> the files of it, damaged in turn
    "hnsw data": ["data_level0.bin"],
    "hnsw header": ["header.bin"],
    "hnsw link lists": ["link_lists.bin"],
    "hnsw metadata": ["length.bin", "index_metadata.pickle"],
    "sqlite": ["chroma.sqlite3"],
}
LENGTHS = (1, 8, 64, 512, 4096)

N = 1500  # enough for Chroma to write every HNSW file (a few hundred stay in its log)
PRELOAD = ["chromadb", "core.retrieval.index"]  # imported once by the fork server, not by every search


@dataclass
class Outcome:
    exitcode: int | None  # negative: the signal that ended the process; None: it hung
    said: str  # what the search printed: "hits …" or "error: …"


def _search(folder: str, said) -> None:
    """One search of the index in `folder`, in a new process (forked from the fork server): its top 5
    for a stored vector, "built" when it had to rebuild, or the one `error:` line; exit 2 on refusal."""
    import numpy as np

    from core.model.encoded import Encoded
    from core.retrieval.index import chroma_client, ensure_index
    from core.retrieval.vectors import IndexTarget, SearchIndexError

    dense = np.random.default_rng(0).normal(size=(N, 16)).astype(np.float32)
    vectors = Encoded.of_dense(dense / np.linalg.norm(dense, axis=1, keepdims=True))
    pids = [f"p{i}" for i in range(N)]
    try:
        target = IndexTarget("random", "fp", "a/model.pt", pids, ["text"] * N, "corpus")
        made = ensure_index(chroma_client(folder), None, target, vectors=vectors)
        hits = [h.docid for h in made.index.query(vectors[7:8], 5)[0]]
        said.send(" ".join(["hits", *hits, "built" if made.built else ""]))
    except SearchIndexError as e:
        said.send(f"error: {e}")
        sys.exit(2)


def search(folder: Path, timeout_s: float = 600) -> Outcome:
    """`_search` in a new process; a crash is its signal, a hang past `timeout_s` an exit code of None."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    mine, theirs = context.Pipe(duplex=False)
    process = context.Process(target=_search, args=(str(folder), theirs))
    process.start()
    theirs.close()
    process.join(timeout_s)
    if process.is_alive():
        process.kill()
        process.join()
        return Outcome(None, "")
    return Outcome(process.exitcode, mine.recv() if mine.poll() else "")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, list[str]]:
    """A Chroma folder holding one small index (built in a process of its own, so every file is
    written when it ends), and the top 5 a search of it returns."""
    folder = tmp_path_factory.mktemp("pristine") / "chroma"
    made = search(folder)
    assert made.exitcode == 0 and "built" in made.said, made
    again = search(folder)
    assert again.exitcode == 0 and "built" not in again.said, "a sound index is reused"
    return folder, again.said.split()[1:6]


def schedule(folder: Path) -> list[tuple[str, Path, int, bytes]]:
    """(kind, file relative to the folder, offset, bytes) for every case, from one seed."""
    rng = random.Random(28)
    (segment,) = [p.name for p in folder.iterdir() if p.is_dir()]
    cases = []
    for kind, files in KINDS.items():
        for i in range(CASES):
            name = files[i % len(files)]
            rel = Path(name) if name.endswith(".sqlite3") else Path(segment) / name
            size = (folder / rel).stat().st_size
            length = min(rng.choice(LENGTHS), size)
            cases.append((kind, rel, rng.randrange(size - length + 1), rng.randbytes(length)))
    return cases


def damaged_search(pristine_folder: Path, where: Path, case) -> tuple[str, Outcome]:
    kind, rel, offset, garbage = case
    shutil.copytree(pristine_folder, where)
    with open(where / rel, "r+b") as f:
        f.seek(offset)
        f.write(garbage)
    return f"{kind}: {len(garbage)} bytes at {offset} of {rel.name}", search(where)


@pytest.mark.stress
def test_damaged_index_files_never_crash_a_search_and_each_answers_or_says_why(pristine, tmp_path):
    folder, expected = pristine
    cases = schedule(folder)
    assert len(cases) == CASES * len(KINDS)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(
            pool.map(lambda ic: damaged_search(folder, tmp_path / f"case{ic[0]}", ic[1]), enumerate(cases))
        )
    wrong = []
    for what, done in outcomes:
        answered = done.exitcode == 0 and done.said.split()[1:6] == expected
        refused = done.exitcode == 2 and done.said.startswith("error: ")  # an exception: exit code 1
        if not (answered or refused):
            wrong.append(f"{what}: exit {done.exitcode}, {done.said.strip()[:200]}")
    assert not wrong, f"{len(wrong)} of {len(cases)} damaged:\n" + "\n".join(wrong)
    rebuilt = sum("built" in done.said for _, done in outcomes)
    assert rebuilt > 0, "some damage is seen and rebuilt"


def test_forced_rebuilds_leave_no_orphaned_segment_folder_and_a_new_process_removes_old_ones(tmp_path):
    import uuid

    import numpy as np
    from chromadb.api.client import Client

    from core.model.encoded import Encoded
    from core.retrieval import index as index_module
    from core.retrieval.index import chroma_client, ensure_index
    from core.retrieval.segments import orphans
    from core.retrieval.vectors import IndexTarget

    folder = tmp_path / "chroma"
    dense = np.random.default_rng(0).normal(size=(1500, 16)).astype(np.float32)
    vectors = Encoded.of_dense(dense / np.linalg.norm(dense, axis=1, keepdims=True))
    pids = [f"p{i}" for i in range(1500)]

    def build(force: bool):
        client, texts = chroma_client(folder), ["t"] * len(pids)
        target = IndexTarget("random", "fp", "a/model.pt", pids, texts, "corpus")
        return ensure_index(client, None, target, force, "", vectors)

    for force in (False, True, True, True):  # a build, then three forced rebuilds
        build(force)
    segments = [p for p in folder.iterdir() if p.is_dir()]
    assert len(segments) == 1 and orphans(folder) == [], "one index, one HNSW folder"
    stray = folder / str(uuid.uuid4())  # a folder a build that was killed before its cleanup left
    shutil.copytree(segments[0], stray)
    Client.clear_system_cache()
    index_module._checked.clear()  # as a new process opens the folder
    assert not build(False).built and not stray.exists()
