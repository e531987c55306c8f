"""The training loop and its hooks on tiny data: a caller's hook sees the events in their order
(never the internal "save"), each batch is in the log before a hook sees it, each epoch's entry
holds its figures and validation, and the checkpoint is published only after the last epoch, with
its passages' vectors."""

import numpy as np

from core.data.corpora import load_corpus
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.model.passages import load_vectors
from core.training.train import train
from tests.conftest import tiny_pipeline_config, whole


def test_a_callers_hook_sees_the_events_in_order_and_the_log_as_it_grows(tmp_path):
    cfg = tiny_pipeline_config(tmp_path, epochs=2)
    corpus = load_corpus(cfg.data.source)
    vocab = Vocab.for_config([*corpus.passages.text, *corpus.queries.text], cfg.vocab)
    out, seen = tmp_path / "run", []

    def hook(event, log):
        seen.append((event, len(log["batches"]), len(log["epochs"]), (out / "model.pt").is_file()))

    log = train(cfg, corpus, vocab, out, hook=hook)
    steps = log["steps"] // 2
    per_epoch = [("batch", b) for b in range(1, steps + 1)] + [("validating", steps), ("epoch", steps)]
    expected = (
        [("validating", 0)] + per_epoch + [(e, b + steps) for e, b in per_epoch] + [("done", 2 * steps)]
    )
    assert [(e, b) for e, b, _, _ in seen] == expected
    assert [n for e, _, n, _ in seen if e in ("validating", "epoch")] == [0, 1, 2, 2, 3]
    assert [published for *_, published in seen] == [False] * (len(seen) - 1) + [True]
    assert [b["step"] for b in log["batches"]] == list(range(1, 2 * steps + 1))
    first, last = log["epochs"][0], log["epochs"][-1]
    assert set(first) == {"epoch", "val", "val_seconds"}
    assert set(last) == {
        "epoch",
        "loss",
        "active",
        "triplets",
        "seconds",
        "triplets_per_s",
        "val",
        "val_seconds",
    }
    assert {"config.json", "log.json", "model.pt", "passages.npz"} <= {p.name for p in out.iterdir()}
    published = Checkpoint("run", out / "model.pt")  # its stored vectors are this model's, exactly
    stored = load_vectors(published, corpus.fingerprint(), list(corpus.passages.text))
    assert np.array_equal(whole(stored), whole(published.encoder.encode_passages(list(corpus.passages.text))))
