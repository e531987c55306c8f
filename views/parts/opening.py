"""A checkpoint opened on a worker thread of its own, shared by every session of the process
(`opening`): a page waiting for it follows its progress, and leaving that page never wastes the work."""

from __future__ import annotations

import threading
from collections.abc import Callable

import streamlit as st

from core.common.types import Progress
from core.retrieval.dense import DenseRanker


class Opening:
    """A checkpoint being opened (its passages encoded) on a worker thread of its own, shared by every
    session of the process: a page waiting for it shows its progress, and leaving that page mid-way
    never wastes the work, which the next page to ask for the checkpoint picks up."""

    def __init__(self, make: Callable[[Progress], DenseRanker]):
        self.share, self.text = 0.0, "Opening the model…"
        self.engine: DenseRanker | None = None
        self.error: Exception | None = None
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(make,), name="open checkpoint", daemon=True).start()

    def _run(self, make: Callable[[Progress], DenseRanker]) -> None:
        try:
            self.engine = make(self._report)
        except Exception as e:  # shown by the page that waits for it (`wait`)
            self.error = e
        finally:
            self.done.set()

    def _report(self, share: float, text: str) -> None:
        self.share, self.text = share, text

    def wait(self) -> DenseRanker:
        """The engine, once open, under a progress bar that follows the worker (never frozen)."""
        if not self.done.is_set():
            bar = st.progress(self.share, text=self.text)
            while not self.done.wait(0.25):
                bar.progress(self.share, text=self.text)
            bar.empty()
        if self.error is not None:
            raise self.error
        return self.engine


@st.cache_resource
def _openings() -> tuple[threading.Lock, dict]:
    """The checkpoints opened or being opened in this process, by key, and their lock."""
    return threading.Lock(), {}


def opening(key: tuple, make: Callable[[Progress], DenseRanker]) -> Opening:
    """The opening of `key`, started now unless one is under way or done (a failed one starts again).
    A rebuilt checkpoint (same name, corpus and Chroma folder, another file) replaces the old one's."""
    lock, openings = _openings()
    with lock:
        job = openings.get(key)
        if job is None or job.error is not None:
            for old in [k for k in openings if (k[0], k[3], k[4]) == (key[0], key[3], key[4])]:
                del openings[old]
            job = openings[key] = Opening(make)
        return job
