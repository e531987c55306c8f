"""A corpus beside MS MARCO: `add` stores it (`artifacts/corpora/NAME/corpus.zip`), then makes what
the app opens it with, each step skipped when already done, so an interrupted add resumes and
leaves nothing half-written (every file is written whole or not at all): each compared checkpoint's
passage vectors, with its vocabulary grown by the corpus's words (`core.model.new_words`), its
Chroma index, and the UMAP maps of a sample. `evaluate` scores every ranker on a corpus's judged
queries; `remove` deletes a corpus with its indexes. One process adds or removes a corpus at a time."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.analysis.projection import Embedded, ensure_projections
from core.common.artifacts import PREFERRED, WARMUP, artifacts_dir
from core.common.config import DataConfig, ProjectionConfig
from core.common.outputs import OutputError, hold
from core.common.types import Tally
from core.data.corpora import CORPUS_FILE, DEFAULT, corpus_dir, name_problem, open_corpus
from core.data.corpus import Corpus, split_queries
from core.data.formats import load
from core.data.stored import read_corpus, write_corpus
from core.data.tables import Columns
from core.model.encoder import Checkpoint
from core.model.new_words import with_words
from core.model.passages import ensure_vectors
from core.retrieval.catalog import Catalog
from core.retrieval.evaluate import IREvaluator
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.metrics import COLLECTION_METRICS
from core.retrieval.registry import METRIC_MODELS, RankerContext, make
from core.retrieval.vectors import IndexTarget

CORPUS_MODELS = tuple(n for n in METRIC_MODELS if n != WARMUP)  # what `evaluate` scores


def _lock(name: str, artifacts: Path) -> Path:
    return corpus_dir(name, artifacts).parent / f".{name}.lock"


def store(name: str, source: str, columns: Columns | None = None, artifacts: Path | None = None) -> Corpus:
    """Read `source` and store it as corpus `name`; the same passages stored already are kept, other
    ones under that name are refused (remove it first)."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    corpus = load(source, columns or Columns())
    path = corpus_dir(name, artifacts) / CORPUS_FILE
    if path.is_file():
        if read_corpus(path).fingerprint() != corpus.fingerprint():
            raise OutputError(
                f"a corpus called {name!r} exists with other passages: remove it first "
                f"(`python -m core corpus remove {name}`) or choose another name"
            )
        return corpus
    write_corpus(corpus, path)
    return corpus


def ready(
    name: str,
    corpus: Corpus,
    artifacts: Path,
    progress: Tally | None = None,
    log=print,
    index: bool = True,
    maps: bool = True,
) -> None:
    """Make what the app opens corpus `name` with: each compared checkpoint's vectors (kept in the
    corpus's folder), its Chroma index (with `index`) and the aligned maps (with `maps`)."""
    folder = corpus_dir(name, artifacts)
    catalog = Catalog(corpus, name, folder)
    engines = []
    for ckpt_name in PREFERRED:  # the checkpoints a corpus is readied for
        checkpoint = Checkpoint(ckpt_name, artifacts / ckpt_name / "model.pt")
        encoder = with_words(checkpoint.encoder, catalog.tokens)
        vectors, made = ensure_vectors(
            checkpoint, catalog.texts, catalog.vector_key, progress, folder, encoder
        )
        log(f"[{name}] {ckpt_name}: {len(vectors):,} passage vectors {'encoded' if made else 'up to date'}")
        if index:
            target = IndexTarget(
                ckpt_name,
                checkpoint.fingerprint,
                checkpoint.path,
                catalog.pids,
                catalog.texts,
                catalog.fingerprint,
            )
            built = ensure_index(
                chroma_client(artifacts / "chroma"),
                encoder,
                target,
                progress=progress or False,
                vectors=vectors,
            )
            log(f"[{name}] {ckpt_name}: Chroma index {'built' if built.built else 'up to date'}")
        engines.append(Embedded(ckpt_name, checkpoint.fingerprint, encoder, vectors))
    if maps:
        _, made = ensure_projections(folder, engines, corpus, DataConfig.val_fraction, ProjectionConfig())
        log(f"[{name}] maps {'fitted' if made else 'up to date'}")


def add(
    name: str,
    source: str,
    columns: Columns | None = None,
    artifacts: Path | None = None,
    progress: Tally | None = None,
    log=print,
    index: bool = True,
    maps: bool = True,
) -> Corpus:
    """`store`, then `ready`, by one process at a time (a second is refused)."""
    artifacts = Path(artifacts or artifacts_dir())
    with hold(_lock(name, artifacts), f"adding corpus {name!r}"):
        corpus = store(name, source, columns, artifacts)
        log(f"[{name}] {len(corpus.passages):,} passages, {len(corpus.queries):,} queries stored")
        ready(name, corpus, artifacts, progress, log, index, maps)
    return corpus


def remove(name: str, artifacts: Path | None = None) -> None:
    """Delete corpus `name`: its folder and its Chroma collections."""
    artifacts = Path(artifacts or artifacts_dir())
    folder = corpus_dir(name, artifacts)
    if name == DEFAULT or not (folder / CORPUS_FILE).is_file():
        raise ValueError(f"no added corpus called {name!r:.60}; `python -m core corpus list` shows them")
    with hold(_lock(name, artifacts), f"removing corpus {name!r}"):
        fingerprint = read_corpus(folder / CORPUS_FILE).fingerprint()
        client = chroma_client(artifacts / "chroma")
        for collection in client.list_collections():
            cname = collection if isinstance(collection, str) else collection.name
            if cname.endswith(f"-{fingerprint}") or cname.endswith(f"-{fingerprint}.building"):
                client.delete_collection(cname)
        shutil.rmtree(folder)


def judged_queries(corpus: Corpus) -> list[str]:
    """The queries a corpus is measured on: a test collection's every judged query, MS MARCO's
    validation queries."""
    return split_queries(corpus, DataConfig.val_fraction, DataConfig.tune_fraction)[1]


def evaluate(
    name: str,
    artifacts: Path | None = None,
    models: tuple[str, ...] = CORPUS_MODELS,
    new_words: bool = True,
    glove: str | None = None,
    progress: bool = False,
    queries: list[str] | None = None,
) -> dict:
    """{ranker: {"queries": n, "ndcg@10": …, "mrr@10": …, "recall@100": …}} over corpus `name`'s judged
    queries (or those of `queries`), every passage ranked; `new_words` (an added corpus): checkpoints
    grow their vocabulary."""
    artifacts = Path(artifacts or artifacts_dir())
    corpus = open_corpus(name, artifacts)
    qids = judged_queries(corpus) if queries is None else queries
    if not qids:
        raise ValueError(
            f"corpus {name!r} has no judged queries: add it with queries and judgements (a BEIR folder: "
            "queries.jsonl and qrels/test.tsv) to measure rankers on it"
        )
    evaluator = IREvaluator.from_corpus(corpus, qids, new_words=new_words and name != DEFAULT)
    context = RankerContext(artifacts, glove, progress)
    out = {}
    for model in models:
        full = evaluator(make(model, context), modes=("full",))["full"]
        out[model] = {"queries": full["queries"], **{k: full[k] for k in COLLECTION_METRICS}}
    return out
