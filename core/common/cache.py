"""`KeyedCache`: what the app opens once per process (engines, maps), one lock per key."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable


class KeyedCache:
    """Values made once per key and then kept, each key under a lock of its own: making one (opening a
    checkpoint and building its index, fitting a map) never waits for another key, and a value already
    made is returned without taking any lock."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._values: dict[Hashable, object] = {}

    def get(
        self, key: Hashable, make: Callable[[], object], replaces: Callable[[Hashable], bool] | None = None
    ):
        """The value of `key`, made by `make()` the first time (once, however many threads ask); once
        made, the kept values of keys for which `replaces(key)` holds (older versions) are dropped."""
        value = self._values.get(key, self)
        if value is not self:
            return value
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                value = make()
                with self._guard:
                    for old in [k for k in self._values if replaces is not None and replaces(k)]:
                        del self._values[old]
                    self._values[key] = value
            return self._values[key]
