"""The dense ranker: one checkpoint (or an untrained `Encoder`, e.g. the GloVe average), cosine
scores of its query and passage vectors.

Fitting encodes every passage (or reads the vectors back from the checkpoint's up-to-date Chroma
index), so exact search answers at once. With a Chroma folder (`chroma_path`, the app and the
benchmark) a missing index is then built from those vectors, on a background thread with
`background` (the app), and searches use it once it is complete; an index found unreadable while
opening or searching is rebuilt, and the result carries a notice. Chroma's hits are approximate: a
passage whose exact rank is within the top k but which the index missed is kept as a hit marked
`missed`. Without a Chroma folder (evaluation, training-time validation) every search is exact.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import torch

from core.common.types import Progress
from core.model.encoder import Checkpoint, Encoder
from core.model.new_words import with_words
from core.model.passages import load_vectors
from core.retrieval.catalog import Catalog, Passages
from core.retrieval.explain import Explanation, split_parts
from core.retrieval.index import IndexBuild, chroma_client, ensure_index, open_index, set_aside_if_corrupt
from core.retrieval.queries import QueryToken, query_tokens, validate_query
from core.retrieval.ranker import FOREGROUND, Ranker, SearchResult, exact_top, with_missed
from core.retrieval.vectors import ChromaIndex, IndexTarget, SearchIndexError


class Engine(Ranker):
    """A dense ranker. `Engine(name, checkpoint, catalog, ...)` fits it on `catalog` at once (the app's
    engines); without a catalog it is fitted later (`fit`, e.g. by `IREvaluator`)."""

    unit = "cos"

    def __init__(
        self,
        name: str,
        checkpoint: Checkpoint | Encoder | str | Path,
        catalog: Passages | None = None,
        chroma_path: str | Path | None = None,
        progress: Progress | bool = False,
        background: bool = False,
    ):
        self.name, self.chroma_path, self.progress, self.background = name, chroma_path, progress, background
        if isinstance(checkpoint, Encoder):
            self.checkpoint, self.encoder, self.fingerprint = None, checkpoint, None
        else:
            if not isinstance(checkpoint, Checkpoint):
                checkpoint = Checkpoint(name, checkpoint)
            self.checkpoint, self.encoder = checkpoint, checkpoint.encoder
            self.fingerprint, self.val_fraction = checkpoint.fingerprint, checkpoint.val_fraction
        self.vocab = self.encoder.vocab
        self._repairing = threading.Lock()
        self.index: ChromaIndex | None = None  # None until the index is open (exact search answers)
        self.notice: str | None = None  # the index was unreadable and has been rebuilt
        self.index_error: str | None = None  # why a background build failed (exact search answers)
        self.index_share = 0.0  # how much of a background build is done
        self.unreported: str | None = None  # a background build's notice, for the next search to carry
        self.builder: threading.Thread | None = None
        if catalog is not None:
            self.fit(catalog)

    @property
    def version(self) -> str:
        return self.fingerprint or self.name

    def _fit(self, passages: Passages) -> None:
        self.catalog, self.index, self.builder = passages, None, None
        if self.checkpoint is not None:  # a corpus it was not trained on: its words are added
            own = self.checkpoint.encoder
            self.encoder = with_words(own, passages.texts) if passages.new_words else own
            self.vocab = self.encoder.vocab
        indexed = self._indexed(passages)
        self.index_target = (  # what its index holds, made once per corpus
            IndexTarget(
                self.name,
                self.fingerprint,
                self.checkpoint.path,
                passages.pids,
                passages.texts,
                passages.fingerprint,
            )
            if indexed
            else None
        )
        self.vectors = self._open_or_encode(passages, indexed)
        if indexed and self.index is None and not self.background:
            self._build(background=False)
        if isinstance(passages, Catalog):
            self.search("warm up")  # torch's (and Chroma's) one-off set-up is not the first query's
        if indexed and self.index is None and self.background:
            self.builder = threading.Thread(
                target=self._build, args=(True,), name=f"index {self.name}", daemon=True
            )
            self.builder.start()
        if callable(self.progress):
            self.progress(1.0, f"The {self.name} model is ready")

    def _indexed(self, passages: Passages) -> bool:
        """Whether searches over `passages` use a Chroma index: with a Chroma folder, a checkpoint file
        (the index is named after it) and a corpus with a fingerprint."""
        return self.chroma_path is not None and self.checkpoint is not None and isinstance(passages, Catalog)

    @property
    def index_state(self) -> str:
        """'ready' (searches use the Chroma index), 'is being built (45%)', or why building it failed,
        'could not be built (…)' (exact search answers meanwhile); 'exact only' without a Chroma folder."""
        if self.index is not None:
            return "ready"
        if self.chroma_path is None:
            return "exact only"
        if self.index_error:
            return f"could not be built ({self.index_error})"
        return f"is being built ({self.index_share:.0%})"

    def _open_or_encode(self, passages: Passages, indexed: bool) -> np.ndarray:
        """Every passage's vector: the ones stored beside the checkpoint when they match, else read back
        from its up-to-date index when there is one (kept as `self.index`), else encoded now (`progress`
        moves with every batch)."""
        if self.checkpoint is not None and isinstance(passages, Catalog):
            stored = load_vectors(
                self.checkpoint, passages.vector_key, passages.texts, passages.folder, self.encoder
            )
            if stored is not None:  # beside the checkpoint (core.model.passages): read, not encoded
                return stored
        if indexed:
            try:
                client = chroma_client(self.chroma_path)
                index = open_index(client, self.fingerprint, passages.fingerprint, len(passages))
                if index is not None:
                    vectors = index.get_vectors(passages.pids)
                    self.index = index
                    return vectors
            except Exception:  # unreadable: encoded below; the build sets the folder aside and rebuilds
                pass
        progress = self.progress

        def report(done: int, total: int) -> None:
            progress(
                done / total,
                f"Encoding {total:,} passages with the {self.name} model: {done:,} done ({done / total:.0%})",
            )

        with FOREGROUND.working():
            return self.encoder.encode_passages(
                passages.texts, progress=report if callable(progress) else progress
            )

    def _build(self, background: bool) -> None:
        """Build this checkpoint's index from `self.vectors` and answer from it once complete. In the
        `background`, a failure is kept in `index_error` (exact search goes on answering), and a
        repair's notice is left for the next search to carry."""

        def report(done: int, total: int) -> None:  # after each chunk added
            self.index_share = done / total
            if background:
                FOREGROUND.wait_quiet()

        try:
            if background:
                FOREGROUND.wait_quiet()
            made, notice = self._open_index(report)
            made.index.query(self.vectors[:1], 1)  # Chroma's one-off set-up, before searches use it
            self.notice, self.unreported, self.index = notice, notice if background else None, made.index
        except Exception as e:
            if not background:
                raise
            self.index_error = f"{type(e).__name__}: {e}"

    def _open_index(self, progress, failed: bool = False) -> tuple[IndexBuild, str | None]:
        """(this checkpoint's index, opened or built from `self.vectors`; a notice when it had to be
        repaired). After a failed search (`failed`) it is reopened, rebuilt only when it does not answer
        (another process may have rebuilt it meanwhile). A Chroma folder whose database cannot be read
        is set aside and the index rebuilt in a fresh one."""

        def made(force: bool) -> IndexBuild:
            return ensure_index(
                chroma_client(self.chroma_path),
                self.encoder,
                self.index_target,
                force=force,
                progress=progress,
                vectors=self.vectors,
            )

        try:
            index = made(False)
            return (
                index,
                f"The {self.name} index failed, so it was rebuilt." if failed and index.built else None,
            )
        except SearchIndexError:
            aside = set_aside_if_corrupt(self.chroma_path)
            if aside is None:
                raise
        return made(True), (
            f"The search index folder could not be read, so it was set aside as {aside} and "
            f"the {self.name} index was rebuilt from the checkpoint."
        )

    def _query(self, vec: np.ndarray, k: int):
        """(top-k hits, None), or (None, None) while the index is being built; when the index fails,
        it is repaired once (by one thread; the others wait for it) and searched again: (hits, the
        notice)."""
        index = self.index
        if index is None:
            return None, None
        try:
            return index.query(vec, k)[0], None
        except SearchIndexError:
            with self._repairing:
                if self.index is index:
                    made, self.notice = self._open_index(False, failed=True)
                    self.index = made.index
            return self.index.query(vec, k)[0], self.notice

    def search(self, query: str, k: int = 10) -> SearchResult:
        """The top k from the Chroma index (with any passage it missed, marked), or from exact search
        over every passage while the index is not ready; `path` says which."""
        query = validate_query(query, self.vocab)
        t0 = time.perf_counter()
        with FOREGROUND.working():
            vec = self.encoder.encode_queries([query])
        t1 = time.perf_counter()
        hits, notice = self._query(vec, k)
        scores = self._cosines(vec)[0]
        if hits is None:
            top, path = exact_top(scores, k), "exact"
        else:
            top, path = with_missed([(self.catalog.row[h.docid], h.score) for h in hits], scores, k), "chroma"
        t2 = time.perf_counter()
        result = self.result(query, top, scores, (t1 - t0) * 1e3, (t2 - t1) * 1e3, path=path)
        result.notice, self.unreported = notice or self.unreported, None
        return result

    def encode_query(self, query: str) -> np.ndarray:
        """One query's unit vector."""
        return self.encoder.encode_queries([query])[0]

    def _cosines(self, query_vectors: np.ndarray) -> np.ndarray:
        """(Q, N) cosines of unit query vectors with every passage's."""
        return (torch.from_numpy(query_vectors) @ torch.from_numpy(self.vectors).T).numpy()

    def scores(self, queries: list[str]) -> np.ndarray:
        with FOREGROUND.working():
            return self._cosines(self.encoder.encode_queries(queries))

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """Cosine = meaning (the dense parts' product) + shared words (the learned weights of the words
        query and passage share), from the model's own parts (`TwoTower.parts`)."""
        with FOREGROUND.working():
            cosines = self.vectors[rows] @ self.encode_query(query)
            splits = self.encoder.explain(query, [self.catalog.texts[r] for r in rows])
        return [Explanation(float(c), self.unit, split_parts(s)) for c, s in zip(cosines, splits)]

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return query_tokens(self.vocab, query, self.encoder.query_len)
