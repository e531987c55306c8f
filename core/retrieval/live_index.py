"""A checkpoint's Chroma index as a running searcher holds it (`LiveIndex`): opened when up to date,
else built from the passage vectors already encoded, at once or on a background thread that waits
until the app is idle (`Foreground`); `query` answers None until the index is ready, so exact search
answers meanwhile. A search that finds the index damaged repairs it once (one thread; the others
wait) and says so; a folder whose database cannot be read is set aside and the index rebuilt."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

from core.common.types import Hit
from core.model.encoded import Encoded
from core.model.encoder import Encoder
from core.retrieval.index import IndexBuild, chroma_client, ensure_index, set_aside_if_corrupt
from core.retrieval.vectors import ChromaIndex, IndexTarget, SearchIndexError

BACKGROUND_CHUNK = 1000  # vectors a background build adds at a time (about a second on 2 cores), then yields


class Foreground(Protocol):
    """The app's foreground work (pages served, passages or queries encoded), which a background
    build waits for: `working()` around such work, `wait_quiet()` until there has been none a while."""

    def working(self) -> AbstractContextManager[None]: ...

    def wait_quiet(self) -> None: ...


class Unhurried:
    """No foreground to wait for (a command line, a test): a background build starts at once."""

    def working(self) -> AbstractContextManager[None]:
        return nullcontext()

    def wait_quiet(self) -> None:
        pass


class LiveIndex:
    """The index of `target` in the Chroma folder `chroma_path` (see the module)."""

    def __init__(
        self,
        chroma_path: str | Path,
        encoder: Encoder,
        target: IndexTarget,
        vectors: Encoded,
        background: bool = False,
        foreground: Foreground | None = None,
    ):
        self.chroma_path, self.encoder, self.target, self.vectors = chroma_path, encoder, target, vectors
        self.foreground = foreground or Unhurried()
        self.index: ChromaIndex | None = None  # None until the index is open (exact search answers)
        self.error: str | None = None  # why a background build failed
        self.share = 0.0  # how much of a background build is done
        self.notice: str | None = None  # the index was unreadable and has been rebuilt
        self.unreported: str | None = None  # a background build's notice, for the next search to carry
        self.builder: threading.Thread | None = None
        self._repairing = threading.Lock()
        if background:  # opened (or built) on its thread: Chroma is not even imported on the app's path
            self.builder = threading.Thread(
                target=self._build, args=(True,), name=f"index {target.name}", daemon=True
            )
            self.builder.start()
        else:
            self._build(background=False)

    @property
    def state(self) -> str:
        """'ready', 'is being built (45%)', or 'could not be built (…)' (exact search answers meanwhile)."""
        if self.index is not None:
            return "ready"
        if self.error:
            return f"could not be built ({self.error})"
        return f"is being built ({self.share:.0%})"

    def _build(self, background: bool) -> None:
        """Build the index and answer from it once complete. In the `background`, a failure is kept in
        `error`, and a repair's notice is left for the next search to carry."""

        def report(done: int, total: int) -> None:  # after each chunk added
            self.share = done / total
            if background:
                self.foreground.wait_quiet()

        try:
            if background:
                self.foreground.wait_quiet()
            made, notice = self._open(report, chunk=BACKGROUND_CHUNK if background else None)
            made.index.query(self.vectors[:1], 1)  # Chroma's one-off set-up, before searches use it
            self.notice, self.unreported, self.index = notice, notice if background else None, made.index
        except Exception as e:
            if not background:
                raise
            self.error = f"{type(e).__name__}: {e}"

    def _open(
        self, progress, failed: bool = False, chunk: int | None = None
    ) -> tuple[IndexBuild, str | None]:
        """(the index, opened or built from `vectors`; a notice when it had to be repaired). After a
        failed search (`failed`) it is reopened, rebuilt only when it does not answer (another process
        may have rebuilt it meanwhile)."""

        def made(force: bool) -> IndexBuild:
            client = chroma_client(self.chroma_path)
            return ensure_index(client, self.encoder, self.target, force, progress, self.vectors, chunk)

        name = self.target.name
        try:
            index = made(False)
            return index, f"The {name} index failed, so it was rebuilt." if failed and index.built else None
        except SearchIndexError:
            aside = set_aside_if_corrupt(self.chroma_path)
            if aside is None:
                raise
        return made(True), (
            f"The search index folder could not be read, so it was set aside as {aside} and "
            f"the {name} index was rebuilt from the checkpoint."
        )

    def query(self, vector: Encoded, k: int) -> tuple[list[Hit] | None, str | None]:
        """(top-k hits for one query vector, a notice for the person searching), or (None, None) while
        the index is not ready; a damaged index is repaired once and searched again."""
        index = self.index
        if index is None:
            return None, None
        try:
            hits, notice = index.query(vector, k)[0], None
        except SearchIndexError:
            with self._repairing:
                if self.index is index:
                    made, self.notice = self._open(False, failed=True)
                    self.index = made.index
            hits, notice = self.index.query(vector, k)[0], self.notice
        notice, self.unreported = notice or self.unreported, None
        return hits, notice
