"""The app's idle scheduler: when this process last did foreground work (a page served, passages or
queries encoded). A background index build (`core.retrieval.live_index`) waits, before it starts and
before each chunk it adds to Chroma, until there has been none for QUIET_S, so it never slows a page.
(Chroma adds on its own thread pool, which no thread priority of ours reaches.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_S = 3.0  # a background index build starts, and adds each chunk, once the app has been idle this long


class Activity:
    """Foreground work in progress and when the last of it ended (`core.retrieval.live_index.Foreground`)."""

    def __init__(self, quiet_s: float = QUIET_S):
        self.quiet_s = quiet_s
        self.lock, self.busy, self.last = threading.Lock(), 0, time.monotonic()

    @contextmanager
    def working(self) -> Iterator[None]:
        with self.lock:
            self.busy += 1
        try:
            yield
        finally:
            with self.lock:
                self.busy, self.last = self.busy - 1, time.monotonic()

    def wait_quiet(self) -> None:
        while True:
            with self.lock:
                left = 0.2 if self.busy else self.last + self.quiet_s - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.5))


FOREGROUND = Activity()  # this process's
