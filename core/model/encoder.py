"""The inference encoder: texts in, unit vectors out (`Encoded`: the dense part and the sparse lexical
part), in length-sorted batches on one torch thread per worker. `Checkpoint` is one checkpoint file
opened once: its fingerprint, its encoder and its metadata, for every stage that needs them."""

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
import scipy.sparse as sp
import torch

from core.common.artifacts import CheckpointError
from core.common.config import DataConfig, ModelConfig
from core.common.types import Tally
from core.data.collate import pad
from core.data.vocab import Vocab
from core.model.encoded import Encoded
from core.model.two_tower import Encoding, TwoTower, file_fingerprint, load_checkpoint

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
    `words` is the score (the dot product of their unit vectors), to rounding."""

    dense: float  # what the dense (meaning) part adds
    words: dict[str, float]  # each word the two share: what its learned weights add

    @property
    def lexical(self) -> float:
        return sum(self.words.values())


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
    """A model with its vocabulary and token limits: texts in, unit vectors (`Encoded`) out.
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
        cfg = ModelConfig(tower="avg", out_dim=0, mean_path=False, lexical=False)
        return cls(TwoTower.from_vocab(cfg, vocab), vocab, query_len, passage_len, meta={"name": "glove-avg"})

    def encode_queries(self, texts: list[str]) -> Encoded:
        return self._encode(texts, self.query_len, self.model.encode_query)

    def encode_passages(self, texts: list[str], progress: bool | Tally = False) -> Encoded:
        """Passage vectors; `progress` is True for a tqdm bar or a callable given (done, total)."""
        return self._encode(texts, self.passage_len, self.model.encode_passage, progress)

    def explain(self, query: str, passages: list[str]) -> list[CosineParts]:
        """The score of `query` with each passage (the dot product of their vectors) split into what
        the model's parts add: the dense part, and the lexical part word by word (each word the two
        hold: the query's share of its dimension times the passage's)."""
        if not passages:
            return []
        with single_torch_thread(), torch.inference_mode():
            q = self.model.encode_query(*pad([self.vocab.encode(query, self.query_len)]))
            p = self.model.encode_passage(*pad([self.vocab.encode(t, self.passage_len) for t in passages]))
        dense = (p.dense.double() @ q.dense[0].double()).tolist()
        if q.shares is None:
            return [CosineParts(d, {}) for d in dense]
        query_words = _word_shares(q.ids[0], q.shares[0])
        out, word = [], self.vocab.int_to_vocab
        for row, d in enumerate(dense):
            passage_words = _word_shares(p.ids[row], p.shares[row])
            shared = {word[i]: v * passage_words[i] for i, v in query_words.items() if i in passage_words}
            out.append(CosineParts(d, shared))
        return out

    def _encode(self, texts, max_len, tower, progress: bool | Tally = False) -> Encoded:
        """Tokenise a chunk of texts on this thread, sort it by length, hand its batches to the pool
        and go on to the next chunk while they run (torch releases the GIL inside the GRU)."""
        width = len(self.vocab)

        def run(rows: np.ndarray, ids: list[list[int]]) -> tuple[np.ndarray, Encoded]:
            with torch.inference_mode():  # thread-local, so entered in each worker
                return rows, encoded(tower(*pad(ids)), width)

        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="encode", unit="text", leave=False)
        parts, order, done, pending = [], [], 0, deque()

        def collect(wait: bool) -> None:  # finished batches, in the order they were handed out
            nonlocal done
            while pending and (wait or pending[0].done()):
                rows, part = pending.popleft().result()
                parts.append(part), order.append(rows)
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
                    by_length = np.argsort([len(x) for x in ids], kind="stable")[::-1]
                    for b in range(0, len(ids), self.batch_size):
                        rows = by_length[b : b + self.batch_size]
                        batch = (start + rows, [ids[i] for i in rows])
                        pending.append(pool.submit(run, *batch) if pool else _done(run(*batch)))
                    collect(wait=False)
                collect(wait=True)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            if bar is not None:
                bar.close()
        if not parts:
            return Encoded.of_dense(np.zeros((0, 0), np.float32))
        return Encoded.stack(parts)[np.argsort(np.concatenate(order), kind="stable")]


def encoded(batch: Encoding, width: int) -> Encoded:
    """A batch's `Encoding` as `Encoded` (NumPy, the lexical part a CSR matrix `width` words wide; a
    word held twice in a text is one entry, its shares summed)."""
    dense = batch.dense.float().numpy()
    if batch.shares is None:
        return Encoded.of_dense(dense)
    rows = np.repeat(np.arange(len(dense)), batch.ids.shape[1])
    shares, ids = batch.shares.float().numpy().ravel(), batch.ids.numpy().ravel()
    held = shares != 0
    lexical = sp.csr_matrix((shares[held], (rows[held], ids[held])), shape=(len(dense), width))
    lexical.sum_duplicates()
    return Encoded(dense, lexical)


def _word_shares(ids: torch.Tensor, shares: torch.Tensor) -> dict[int, float]:
    """{word id: its share of the text's vector}, over a text's tokens (a word held twice: summed)."""
    out: dict[int, float] = {}
    for i, v in zip(ids.tolist(), shares.double().tolist()):
        if v:
            out[i] = out.get(i, 0.0) + v
    return out


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
