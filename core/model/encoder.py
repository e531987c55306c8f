"""The inference encoder: texts in, unit vectors out, in length-sorted batches on one torch thread
per worker. `Checkpoint` is one checkpoint file opened once: its fingerprint, its encoder and its
metadata, for every stage that needs them."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from core.common.artifacts import CheckpointError
from core.common.config import DataConfig, ModelConfig
from core.common.types import Tally
from core.data.collate import pad
from core.data.vocab import Vocab
from core.model.two_tower import TwoTower, file_fingerprint, load_checkpoint

_TORCH_THREADS = threading.Lock()
DATA_META = {  # what a checkpoint's meta.data may hold: (type, lowest, highest) of each number
    "query_len": (int, 1, 100_000),
    "passage_len": (int, 1, 100_000),
    "val_fraction": (float, 0.0, 0.9),
    "tune_fraction": (float, 0.0, 0.9),
}


def checked_data(path: str | Path, meta: dict) -> dict:
    """`meta["data"]` (what the checkpoint was trained on) when each number in it is of its type and
    range (`DATA_META`), else a `CheckpointError` naming the file and the value."""
    data = meta.get("data", {})
    problem = None if isinstance(data, dict) else f"its meta.data is a {type(data).__name__}, not an object"
    for key, (kind, low, high) in DATA_META.items():
        value = data.get(key) if problem is None else None
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and not (number and isinstance(value, kind | int) and low <= value <= high):
            problem = f"its meta.data.{key} is {str(value)[:40]!r}, not a number from {low} to {high}"
    if problem:
        raise CheckpointError(f"checkpoint {path} is damaged: {problem}; train it again or restore it")
    return data


@dataclass(frozen=True)
class CosineParts:
    """A checkpoint's score of one query with one passage, taken apart: `dense` plus every share in
    `words` and `collisions` is the score (the dot product of their unit vectors), to rounding."""

    dense: float  # what the dense (meaning) part adds
    words: dict[str, float]  # each word the two share: what its learned weights add
    collisions: dict[str, float]  # "query word≈passage word": two words hashed into one lexical bucket

    @property
    def lexical(self) -> float:
        return sum(self.words.values()) + sum(self.collisions.values())


@contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run torch ops on one intra-op thread (the setting is process-wide, hence the lock).

    A GRU step is too small to split between threads: with two intra-op threads on a busy 2-core
    machine, OpenMP's spinning made encoding ten times slower. Parallelism comes instead from
    running whole batches on separate Python threads (torch releases the GIL inside ops)."""
    with _TORCH_THREADS:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


class Encoder:
    """A model with its vocabulary and token limits: texts in, unit vectors (N, D) float32 out.
    Batches are formed from length-sorted texts (within chunks of 8 batches) so little compute is
    spent on padding, and run on `workers` threads (default: one per core) of one torch thread each."""

    def __init__(
        self,
        model: TwoTower,
        vocab: Vocab,
        query_len: int = 32,
        passage_len: int = 128,
        batch_size: int = 128,
        meta: dict | None = None,
        workers: int | None = None,
    ):
        self.model, self.vocab = model.eval(), vocab
        self.query_len, self.passage_len, self.batch_size = query_len, passage_len, batch_size
        self.meta = meta or {}
        self.workers = workers or os.cpu_count() or 1

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Encoder:
        model, vocab, meta = load_checkpoint(path)
        lens = checked_data(path, meta)
        return cls(model, vocab, lens.get("query_len", 32), lens.get("passage_len", 128), meta=meta)

    @classmethod
    def glove_average(cls, vocab: Vocab, query_len: int = 32, passage_len: int = 128) -> Encoder:
        """The untrained baseline: the mean GloVe vector of the tokens, nothing learned."""
        cfg = ModelConfig(tower="avg", out_dim=0, mean_path=False, lexical_dim=0)
        return cls(TwoTower.from_vocab(cfg, vocab), vocab, query_len, passage_len, meta={"name": "glove-avg"})

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_len, self.model.encode_query)

    def encode_passages(self, texts: list[str], progress: bool | Tally = False) -> np.ndarray:
        """Passage vectors; `progress` is True for a tqdm bar or a callable given (done, total)."""
        return self._encode(texts, self.passage_len, self.model.encode_passage, progress)

    def explain(self, query: str, passages: list[str]) -> list[CosineParts]:
        """The score of `query` with each passage (the dot product of their vectors) split into what
        the model's parts add (`TwoTower.parts`): the dense part, and the lexical part word by word."""
        if not passages:
            return []
        q_ids, p_ids = (
            [self.vocab.encode(query, self.query_len)],
            [self.vocab.encode(t, self.passage_len) for t in passages],
        )
        with single_torch_thread(), torch.inference_mode():
            q_dense, q_share, q_bucket = self.model.parts(*pad(q_ids))
            p_dense, p_share, p_bucket = self.model.parts(*pad(p_ids), passage=True)
        q_share, p_share = q_share[0].double(), p_share.double()  # (Tq,), (P, Tp)
        q_ids_t, p_ids_t = torch.tensor(q_ids[0]), pad(p_ids)[0]
        # (P, Tq, Tp): query token i times passage token j, where the two land in one bucket
        pairs = (
            q_share[None, :, None]
            * p_share[:, None, :]
            * (q_bucket[0][None, :, None] == p_bucket[:, None, :])
        )
        same = q_ids_t[None, :, None] == p_ids_t[:, None, :]
        by_token = (pairs * same).sum(2)  # (P, Tq): each query token's matches of the same word
        collided = pairs * ~same
        out, word = [], self.vocab.int_to_vocab
        for row, dense in enumerate((p_dense.double() @ q_dense[0].double()).tolist()):
            words: dict[str, float] = {}
            for i, share in zip(q_ids[0], by_token[row].tolist()):
                if share:
                    words[word[i]] = words.get(word[i], 0.0) + share
            collisions: dict[str, float] = {}
            for i, j in collided[row].nonzero().tolist():
                pair = f"{word[q_ids[0][i]]}≈{word[p_ids[row][j]]}"
                collisions[pair] = collisions.get(pair, 0.0) + float(collided[row, i, j])
            out.append(CosineParts(dense, words, collisions))
        return out

    def _encode(self, texts, max_len, tower, progress: bool | Tally = False) -> np.ndarray:
        """Tokenise a chunk of texts on this thread, sort it by length, hand its batches to the pool
        and go on to the next chunk while they run (torch releases the GIL inside the GRU)."""

        def run(rows: np.ndarray, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
            with torch.inference_mode():  # thread-local, so entered in each worker
                return rows, tower(*pad(ids)).numpy()

        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="encode", unit="text", leave=False)
        out, done, pending = None, 0, deque()

        def collect(wait: bool) -> None:  # finished batches, in the order they were handed out
            nonlocal out, done
            while pending and (wait or pending[0].done()):
                rows, vecs = pending.popleft().result()
                if out is None:
                    out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
                out[rows] = vecs
                done += len(rows)
                if bar is not None:
                    bar.update(len(rows))
                if callable(progress):
                    progress(done, len(texts))

        pool = ThreadPoolExecutor(self.workers) if len(texts) > self.batch_size else None
        chunk = self.batch_size * 8
        try:
            with single_torch_thread():
                for start in range(0, len(texts), chunk):
                    ids = [self.vocab.encode(t, max_len) for t in texts[start : start + chunk]]
                    order = np.argsort([len(x) for x in ids], kind="stable")[::-1]
                    for b in range(0, len(ids), self.batch_size):
                        rows = order[b : b + self.batch_size]
                        batch = (start + rows, [ids[i] for i in rows])
                        pending.append(pool.submit(run, *batch) if pool else _done(run(*batch)))
                    collect(wait=False)
                collect(wait=True)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            if bar is not None:
                bar.close()
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _done(result) -> Future:
    future = Future()
    future.set_result(result)
    return future


class Checkpoint:
    """One checkpoint file, opened once: its name, content fingerprint, encoder and metadata. Every
    stage of a build (index, maps, fusion, metrics) and every engine of the app works from one handle,
    so a file is read and fingerprinted once however many stages use it."""

    def __init__(self, name: str, path: str | Path):
        self.name, self.path = name, Path(path)

    @cached_property
    def fingerprint(self) -> str:
        return file_fingerprint(self.path)

    @cached_property
    def encoder(self) -> Encoder:
        return Encoder.from_checkpoint(self.path)

    @property
    def meta(self) -> dict:
        return self.encoder.meta

    @property
    def val_fraction(self) -> float:
        """The share of queries held out for validation when it was trained (the default when the
        checkpoint does not record it)."""
        return float(self.meta.get("data", {}).get("val_fraction", DataConfig.val_fraction))

    @property
    def tune_fraction(self) -> float:
        """The share of queries kept out of training to fit settings chosen by a score (0 for a
        checkpoint trained before the tuning slice existed)."""
        return float(self.meta.get("data", {}).get("tune_fraction", 0.0))
