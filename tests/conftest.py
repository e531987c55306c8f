"""Shared fixtures and data for every test folder: tests/unit (fast library tests on tiny data the
tests make), tests/app (Streamlit AppTest and the real browser) and tests/system (subprocesses, the
CLI and builds, Chroma servers, stress, the real data end to end). Everything under tests/app and
tests/system is marked `slow` here, by folder (see pytest.ini)."""

import json
import socket
from functools import cache
from pathlib import Path

import pytest

from core.common.config import Config
from core.data.corpus import Corpus
from core.data.stored import read_corpus
from core.retrieval import registry

TESTS = Path(__file__).resolve().parent
SLOW_FOLDERS = ("app", "system")
# The real data every test reads: the demo corpus that ships in artifacts/, which is ../shared/msmarco
# loaded as one folder, so no test needs ../shared. Its queries keep the files' order:
DEMO_CORPUS = TESTS.parent / "artifacts" / "demo_corpus.zip"
DEV_QUERIES = 6380  # first, dev_small_pairs.jsonl's (each with its one judged passage)
SAMPLE_QUERIES = 198  # last, v1.1_train_sample200.jsonl's but the 2 train_extra.jsonl holds first


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    """Mark every test under tests/app and tests/system `slow`."""
    for item in items:
        try:
            folder = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # a test outside tests/
            continue
        if folder in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


def whole(vectors, width: int | None = None):
    """Vectors as one dense array, `[dense part, lexical part over the vocabulary]`: an `Encoded`, or a
    model's `Encoding` (`width`: its vocabulary's size), so tests compare whole vectors."""
    import numpy as np

    from core.model.encoded import Encoded
    from core.model.encoder import encoded

    if not isinstance(vectors, Encoded):
        vectors = encoded(vectors, width)
    return np.hstack([vectors.dense, vectors.lexical.toarray()])


def free_port() -> int:
    """A TCP port on localhost that nothing listens on (for test servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@cache
def demo_corpus() -> Corpus:
    """The shipped demo corpus, read once per test session (treat it as read-only)."""
    return read_corpus(DEMO_CORPUS)


def v11_rows(corpus: Corpus, start: int = 0, stop: int | None = None) -> list[dict]:
    """The corpus's queries[start:stop] as MS MARCO v1.1-schema rows, as the source files hold them:
    each query with the texts of its candidates in order, `is_selected` 1 where judged relevant."""
    text = dict(zip(corpus.passages.pid, corpus.passages.text))
    rows = []
    for qid, query, query_type in corpus.queries.iloc[start:stop].itertuples(index=False):
        pids, judged = corpus.candidates.get(qid, []), corpus.positives[qid]
        passages = {"is_selected": [int(p in judged) for p in pids], "passage_text": [text[p] for p in pids]}
        query_id = int(qid) if qid.isdigit() else qid
        rows.append({"query_id": query_id, "query": query, "query_type": query_type, "passages": passages})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def demo_jsonl(path: Path, start: int = 0, stop: int | None = None) -> Path:
    """The demo corpus's queries[start:stop] written to `path` as a v1.1-schema JSONL file: `stop`
    alone gives the first lines of dev_small_pairs.jsonl, `start=-SAMPLE_QUERIES` the train sample's."""
    return write_jsonl(path, v11_rows(demo_corpus(), start, stop))


# A tiny corpus in the v1.1 schema: topics with clearly separable vocabulary.
TOPICS = {
    "coffee": [
        "coffee beans are roasted and brewed into a hot drink",
        "espresso is strong coffee brewed under pressure",
    ],
    "python": [
        "python is a snake found in asia and africa",
        "pythons are large snakes that kill by constriction",
    ],
    "paris": ["paris is the capital city of france", "the eiffel tower stands in paris france"],
    "moon": ["the moon orbits the earth every month", "astronauts first walked on the moon in 1969"],
    "piano": ["the piano is a musical instrument with keys", "a pianist plays music on the piano keyboard"],
    "rain": ["rain falls from clouds when water droplets grow", "heavy rain can cause floods in rivers"],
}
QUESTIONS = {
    "coffee": ["how is coffee made", "what is espresso coffee", "coffee drink brewing"],
    "python": ["what kind of snake is a python", "where do python snakes live", "how do pythons kill"],
    "paris": ["what is the capital of france", "where is the eiffel tower", "paris france city"],
    "moon": [
        "how long does the moon take to orbit earth",
        "when did astronauts walk on the moon",
        "moon orbit",
    ],
    "piano": ["what instrument has keys", "who plays the piano", "piano music keyboard"],
    "rain": ["why does rain fall", "what causes floods", "rain clouds water"],
}


def tiny_rows(extra_keys: bool = True) -> list[dict]:
    rows, qid = [], 1000
    topics = list(TOPICS)
    for t_i, topic in enumerate(topics):
        other = topics[(t_i + 1) % len(topics)]
        for q_i, question in enumerate(QUESTIONS[topic]):
            pos = TOPICS[topic][q_i % 2]
            texts = [pos, TOPICS[other][0], TOPICS[other][1]]
            row = {
                "query_id": qid,
                "query": question,
                "query_type": "DESCRIPTION",
                "passages": {"is_selected": [1, 0, 0], "passage_text": texts, "url": ["", "", ""]},
            }
            if extra_keys:
                row.update({"answers": ["x"], "wellFormedAnswers": [], "some_future_field": {"a": 1}})
            rows.append(row)
            qid += 1
    return rows


def tiny_pipeline_config(folder: Path, epochs: int) -> Config:
    """The settings the build and experiments tests run the pipeline with: the tiny corpus written to
    `folder`, a small model, a validation and a tuning slice big enough to hold queries."""
    data = folder / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in tiny_rows()))
    cfg = Config()
    cfg.data.source, cfg.data.val_fraction, cfg.data.tune_fraction = str(data), 0.3, 0.2
    cfg.vocab.top_n = 300
    cfg.model.hidden, cfg.model.out_dim = 16, 16
    cfg.train.epochs, cfg.train.batch_size, cfg.train.warmup_steps = epochs, 8, 1
    cfg.round.epochs, cfg.round.batch_size, cfg.round.warmup_steps = 1, 8, 1
    cfg.build.mine_depth, cfg.build.mine_keep = 8, 3
    return cfg


@pytest.fixture
def tiny_jsonl(tmp_path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows()) + "\n")
    return path


@pytest.fixture(scope="session")
def glove_vocab():
    from core.data.vocab import Vocab

    texts = [t for ts in TOPICS.values() for t in ts] + [q for qs in QUESTIONS.values() for q in qs]
    return Vocab.for_texts(texts, top_n=2000)


@pytest.fixture
def toy_ranker(monkeypatch):
    """The toy ranker (tests/toy_ranker.py) added to the registry by its one line; yields the instances
    the registry makes, so a test can reach the very objects the app or `eval` used."""
    from tests.toy_ranker import RandomScores

    made = []

    def factory(name, setting):
        made.append(RandomScores(name, setting))
        return made[-1]

    monkeypatch.setitem(registry.REGISTRY, "random-scores", factory)
    yield made
