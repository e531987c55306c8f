"""Training on real MS MARCO data improves retrieval over the untrained model."""

from core.common.config import Config
from core.data.corpora import load_corpus
from core.data.vocab import Vocab
from core.training.train import train
from tests.conftest import DEV_QUERIES, demo_jsonl


def test_short_training_beats_untrained(tmp_path):
    corpus = load_corpus(str(demo_jsonl(tmp_path / "dev_pairs.jsonl", stop=DEV_QUERIES)))
    vocab = Vocab.for_texts([*corpus.passages.text, *corpus.queries.text], top_n=5000)
    cfg = Config()
    cfg.train.epochs, cfg.train.max_queries, cfg.train.warmup_steps = 1, 1500, 5
    cfg.model.lexical = False  # the towers alone: the lexical half starts at BM25's IDF, strong untrained
    log = train(cfg, corpus, vocab, tmp_path / "run")
    untrained, trained = log["epochs"][0]["val"], log["epochs"][-1]["val"]
    assert untrained["queries"] == trained["queries"] > 700
    assert trained["corpus"] == 6378
    assert trained["mrr@10"] > untrained["mrr@10"] + 0.02, (untrained, trained)
    assert (tmp_path / "run" / "model.pt").is_file()
