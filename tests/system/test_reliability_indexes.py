"""What protects the indexes: every way a Chroma index can be damaged (garbage HNSW files, a deleted
segment folder) is repaired when it is next opened, by the app, `build` or `mine`; a full disk is
told apart from damage (said, and the folder kept); one process builds a cold index while the others
wait; a search whose index another process rebuilt reopens it instead of building again; and
collections are keyed by the checkpoint file's fingerprint, so indexing another file never deletes
the committed checkpoint's collection."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from chromadb.api.client import Client

from core.analysis import results
from core.model.encoder import Encoder
from core.retrieval import index as index_module
from core.retrieval.index import chroma_client, ensure_index, set_aside_if_corrupt
from core.retrieval.vectors import IndexTarget, SearchIndexError

ROOT = Path(__file__).resolve().parents[2]
N = 1500  # enough passages for Chroma to write its HNSW files (a few hundred stay in its log)


@pytest.fixture
def passages(glove_vocab):
    words = glove_vocab.int_to_vocab[2:]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 8)) for _ in range(N)]
    return [f"p{i}" for i in range(N)], texts, Encoder.glove_average(glove_vocab)


def build(folder: Path, passages, fingerprint: str = "fp1", path: str = "a/random/model.pt", **kw):
    pids, texts, encoder = passages
    target = IndexTarget("random", fingerprint, path, pids, texts, "corpus")
    return ensure_index(chroma_client(folder), encoder, target, **kw)


def restart() -> None:
    """What a new process sees: Chroma's per-path systems forgotten, the files read again."""
    Client.clear_system_cache()


def top(made, passages) -> list[str]:
    pids, texts, encoder = passages
    return [h.docid for h in made.index.query(encoder.encode_queries([texts[7]]), 10)[0]]


def segment(folder: Path) -> Path:
    (seg,) = [p for p in folder.iterdir() if p.is_dir()]
    return seg


DAMAGE = {
    "garbage header.bin": lambda seg: (seg / "header.bin").write_bytes(os.urandom(100)),
    "garbage index_metadata.pickle": lambda seg: (seg / "index_metadata.pickle").write_bytes(os.urandom(100)),
    "garbage data_level0.bin": lambda seg: (seg / "data_level0.bin").write_bytes(os.urandom(5000)),
    "deleted segment folder": shutil.rmtree,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_hnsw_files_are_rebuilt_when_the_index_is_next_opened(passages, tmp_path, damage):
    folder = tmp_path / "chroma"
    before = top(build(folder, passages), passages)
    restart()
    DAMAGE[damage](segment(folder))
    restart()
    repaired = build(folder, passages)  # as the app, `build` and `mine` open it
    assert repaired.built and top(repaired, passages) == before
    assert len(repaired.index) == len(passages[0])
    restart()
    assert not build(folder, passages).built, "and stays repaired"


def test_indexing_another_file_never_deletes_the_committed_checkpoints_collection(passages, tmp_path):
    """`mine --checkpoint /other/random/model.pt` used to delete the collection of artifacts/random."""
    folder = tmp_path / "chroma"
    build(folder, passages, "fp1", "artifacts/random/model.pt")
    build(folder, passages, "fp2", "/other/random/model.pt")
    names = sorted(c.name for c in chroma_client(folder).list_collections())
    assert names == ["checkpoint-fp1-corpus", "checkpoint-fp2-corpus"]
    build(folder, passages, "fp3", "artifacts/random/model.pt")  # the committed file retrained
    names = sorted(c.name for c in chroma_client(folder).list_collections())
    assert names == ["checkpoint-fp2-corpus", "checkpoint-fp3-corpus"], (
        "only the same file's older index is dropped"
    )


def test_a_search_whose_index_another_process_rebuilt_reopens_it(passages, tmp_path, monkeypatch, catalog):
    from core.retrieval.dense import DenseRanker

    folder = tmp_path / "chroma"
    engine = DenseRanker("random", CHECKPOINT, catalog, chroma_path=folder)
    pids, texts = catalog.pids, catalog.texts
    c = engine.checkpoint
    target = IndexTarget("random", c.fingerprint, None, pids, texts, catalog.fingerprint)
    # another process's `build --force`: the collection the engine had open is gone
    ensure_index(chroma_client(folder), c.encoder, target, True)
    builds = []
    real = index_module._build_index
    monkeypatch.setattr(index_module, "_build_index", lambda *a: builds.append(1) or real(*a))
    result = results.search(engine, "how is coffee made", 3)
    assert result.hits and result.notice is None and builds == [], "reopened, not built again"


COLD_OPEN = """
import sys
from core.data.corpora import load_corpus
from core.model.encoder import Checkpoint
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.vectors import IndexTarget
ckpt, source, chroma = sys.argv[1:4]
corpus, c = load_corpus(source), Checkpoint("random", ckpt)
target = IndexTarget("random", c.fingerprint, None, list(corpus.passages.pid), list(corpus.passages.text),
                     corpus.fingerprint())
made = ensure_index(chroma_client(chroma), c.encoder, target)
print("built" if made.built else "opened", len(made.index))
"""


def test_processes_opening_one_cold_index_build_it_once(tiny_jsonl, tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COLD_OPEN, str(CHECKPOINT), str(tiny_jsonl), str(tmp_path / "chroma")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outcomes.append(out.split()[0])
    assert sorted(outcomes) == ["built", "opened", "opened"]


# --- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB tmpfs (needs root and mount); skipped where one cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.decode().strip()})")
    yield mount
    restart()
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` until `leave` bytes are free."""
    filler = disk / f"filler-{uuid.uuid4().hex}"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * max(0, free - leave))
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def test_a_full_disk_is_said_and_keeps_the_good_indexes(passages, small_disk):
    folder = small_disk / "chroma"
    before = top(build(folder, passages), passages)
    filler = fill(small_disk, 64 << 10)
    with pytest.raises(SearchIndexError, match="is full"):
        build(folder, passages, "fp2", "a/hard/model.pt")  # a second checkpoint's index
    assert set_aside_if_corrupt(folder) is None, "what the app does next: the folder is not moved"
    assert [p.name for p in small_disk.iterdir() if p.name.startswith("chroma")] == ["chroma"]
    filler.unlink()
    restart()
    again = build(folder, passages)
    assert not again.built and top(again, passages) == before, "the first index was kept whole"


def test_a_full_disk_while_saving_a_checkpoint_is_one_error_line(tiny_jsonl, small_disk, capsys):
    from core.pipeline import cli
    from tests.unit.test_reliability import TINY, one_error_line

    fill(small_disk, 32 << 10)  # room for the config, not for the checkpoint
    out = small_disk / "run"
    code = cli.main(["train", "--out", str(out), "--source", str(tiny_jsonl), "--epochs", "1", *TINY])
    assert code == 2 and "No space left on device" in one_error_line(capsys)
    assert sorted(p.name for p in small_disk.iterdir() if not p.name.startswith("filler")) == []


# the committed checkpoint, for the tests that need a real model (an DenseRanker)
CHECKPOINT = ROOT / "artifacts" / "random" / "model.pt"


@pytest.fixture
def catalog(tiny_jsonl):
    from core.data.corpora import load_corpus
    from core.retrieval.catalog import Catalog

    if not CHECKPOINT.is_file():
        pytest.skip(f"needs the committed checkpoint {CHECKPOINT}")
    return Catalog(load_corpus(str(tiny_jsonl)))
