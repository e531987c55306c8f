"""The pipeline on tiny data: every stage runs, a second run trains nothing, stale outputs rebuild."""

import json

import pytest
import torch

from core.data.triplets import load_mined
from core.model.two_tower import file_fingerprint, load_checkpoint, save_checkpoint
from core.pipeline.build import build
from core.retrieval.index import chroma_client, open_index
from tests.conftest import tiny_pipeline_config


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    d = tmp_path_factory.mktemp("build")
    cfg = tiny_pipeline_config(d, epochs=2)
    out = d / "artifacts"
    first = build(cfg, out, log=lambda *_: None)
    return cfg, out, first


def statuses(results):
    return {r.stage: r.status for r in results}


def test_first_build_makes_every_artifact(tiny_build):
    cfg, out, first = tiny_build
    assert all(s == "built" for stage, s in statuses(first).items() if stage not in ("data", "vocab"))
    for name in ("warmup", "random", "hard"):
        assert {"model.pt", "log.json", "config.json"} <= {p.name for p in (out / name).iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {
        "glove-avg",
        "bm25",
        "warmup",
        "random",
        "hard",
        "hybrid:random",
        "hybrid:hard",
    }
    assert metrics["models"]["hard"]["bm25_hard"]["queries"] > 0
    weights = json.loads((out / "hybrid.json").read_text())
    assert weights["hard"]["checkpoint"] == file_fingerprint(out / "hard" / "model.pt")
    assert (
        0 <= weights["hard"]["weight"] <= 1 and metrics["hybrid_weights"]["hard"] == weights["hard"]["weight"]
    )
    assert metrics["models"]["hard"]["full"]["corpus"] == 12
    assert weights["hard"]["fitted_on"]["split"] == "tuning"


def test_the_compared_rounds_differ_only_in_their_negatives(tiny_build):
    _, out, _ = tiny_build
    random, hard = (json.loads((out / n / "config.json").read_text()) for n in ("random", "hard"))
    assert random["train"].pop("negatives") == "random" and hard["train"].pop("negatives") == "hard"
    assert (
        hard["train"].pop("hard_file").endswith("negatives.json") and random["train"].pop("hard_file") is None
    )
    assert random == hard
    assert hard["train"]["init_from"].endswith("warmup/model.pt")


def test_mined_negatives_are_never_positives(tiny_build):
    from core.data.corpora import load_corpus

    cfg, out, _ = tiny_build
    corpus = load_corpus(cfg.data.source)
    mined, provenance = load_mined(out / "mined" / "negatives.json")
    assert mined and provenance["checkpoint_fingerprint"] == file_fingerprint(out / "warmup" / "model.pt")
    assert sum(bool(negs) for negs in mined.values()) >= len(mined) / 2
    for q, negs in mined.items():
        assert not set(negs) & corpus.positives[q]


def test_second_build_does_no_training(tiny_build):
    cfg, out, _ = tiny_build
    before = {n: file_fingerprint(out / n / "model.pt") for n in ("warmup", "random", "hard")}
    second = build(cfg, out, log=lambda *_: None)
    assert statuses(second) == {
        "data": "loaded",
        "vocab": "made",
        "train warmup": "up to date",
        "train random + hard": "up to date",
        "index random": "up to date",
        "mine": "up to date",
        "index hard": "up to date",
        "project random+hard": "up to date",
        "fuse": "up to date",
        "metrics": "up to date",
    }
    assert before == {n: file_fingerprint(out / n / "model.pt") for n in ("warmup", "random", "hard")}


def test_an_up_to_date_build_opens_each_checkpoint_once(tiny_build, monkeypatch):
    """Every stage (index, mining, maps, fusion, metrics) works from one handle per checkpoint: the
    file is read once and fingerprinted once, however many stages use it."""
    import core.model.encoder as encoder_module

    cfg, out, _ = tiny_build
    opened, hashed = [], []
    real_open, real_hash = encoder_module.load_checkpoint, encoder_module.file_fingerprint
    monkeypatch.setattr(encoder_module, "load_checkpoint", lambda p: opened.append(p) or real_open(p))
    monkeypatch.setattr(encoder_module, "file_fingerprint", lambda p: hashed.append(p) or real_hash(p))
    monkeypatch.setattr(
        "core.training.rounds.train", lambda *a, **k: pytest.fail("an up-to-date build trained")
    )
    build(cfg, out, log=lambda *_: None)
    names = ("warmup", "random", "hard")
    assert sorted(map(str, opened)) == sorted(str(out / n / "model.pt") for n in names)
    assert sorted(map(str, hashed)) == sorted(map(str, opened))


def test_changed_checkpoint_makes_index_stale(tiny_build):
    cfg, out, _ = tiny_build
    ckpt = out / "hard" / "model.pt"
    model, vocab, meta = load_checkpoint(ckpt)
    with torch.no_grad():
        model.towers[0].proj.weight.add_(0.01)
    save_checkpoint(ckpt, model, vocab, meta)  # same build key: training is not redone
    from core.data.corpora import load_corpus

    corpus = load_corpus(cfg.data.source)
    client = chroma_client(out / "chroma")
    assert open_index(client, file_fingerprint(ckpt), corpus.fingerprint(), len(corpus.passages)) is None
    third = statuses(build(cfg, out, log=lambda *_: None))
    assert (
        third["train random + hard"] == "up to date"
        and third["index hard"] == "built"
        and third["metrics"] == "built"
    )
    assert third["project random+hard"] == "built"  # the aligned maps follow either checkpoint
    assert third["fuse"] == "built"  # and so does the hybrid's weight
    assert open_index(client, file_fingerprint(ckpt), corpus.fingerprint(), len(corpus.passages)) is not None


def test_rounds_trained_side_by_side_are_the_rounds_trained_in_turn(tiny_build, tmp_path):
    """`build --jobs 2` trains random and hard at once, each in a spawned process at one thread; the
    weights are those of the same rounds trained one after the other, and the progress bar is told
    both rounds' steps summed."""
    from dataclasses import replace

    from core.training.rounds import train_rounds

    told, weights = [], {}
    for jobs in (1, 2):
        corpus, vocab, rounds = compared_rounds(tiny_build, tmp_path / str(jobs))
        rounds = {
            n: (replace(c, train=replace(c.train, threads=1)), *rest) for n, (c, *rest) in rounds.items()
        }
        trained = train_rounds(
            rounds, corpus, vocab, jobs=jobs, progress=lambda d, t: told.append((jobs, d, t))
        )
        assert all(fresh for _, fresh in trained.values())
        weights[jobs] = {n: load_checkpoint(c.path)[0].state_dict() for n, (c, _) in trained.items()}
    for name in ("random", "hard"):
        one, two = weights[1][name], weights[2][name]
        assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one), name
    steps = sum(json.loads((tmp_path / "1" / n / "log.json").read_text())["steps"] for n in weights[1])
    assert max(t for jobs, _, t in told if jobs == 2) == steps
    assert (2, steps, steps) in told


def compared_rounds(tiny_build, folder, mined=None, epochs=1):
    """The tiny build's compared rounds: corpus, vocabulary, name -> (config, out in `folder`, key)."""
    import copy
    from dataclasses import replace

    from core.data.corpora import load_corpus
    from core.data.vocab import Vocab
    from core.training.rounds import round_config

    cfg, out, _ = tiny_build
    cfg = copy.deepcopy(cfg)
    cfg.round = replace(cfg.round, epochs=epochs)
    corpus = load_corpus(cfg.data.source)
    vocab = Vocab.for_config([*corpus.passages.text, *corpus.queries.text], cfg.vocab)
    warmup = out / "warmup" / "model.pt"
    configs = {
        "random": round_config(cfg, "random", warmup),
        "hard": round_config(cfg, "hard", warmup, mined or out / "mined" / "negatives.json"),
    }
    return corpus, vocab, {n: (c, folder / n, "") for n, c in configs.items()}


def test_a_rounds_error_side_by_side_is_raised_as_itself(tiny_build, tmp_path):
    from core.training.rounds import train_rounds

    corpus, vocab, rounds = compared_rounds(tiny_build, tmp_path, mined=tmp_path / "no such file.json")
    with pytest.raises(Exception, match="no such file") as raised:
        train_rounds(rounds, corpus, vocab, jobs=2)
    one_by_one = pytest.raises(type(raised.value), match="no such file")
    with one_by_one:
        train_rounds(rounds, corpus, vocab, jobs=1)
    assert not (tmp_path / "hard" / "model.pt").exists()


def test_a_build_stopped_while_rounds_train_side_by_side_ends_them(tiny_build, tmp_path):
    """An error (or a Ctrl-C) in the build while both rounds train ends both processes at once:
    nothing goes on training, and nothing is published."""
    import multiprocessing

    from core.training.rounds import train_rounds

    corpus, vocab, rounds = compared_rounds(tiny_build, tmp_path, epochs=500)  # minutes, unless ended

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_rounds(rounds, corpus, vocab, jobs=2, progress=stop)
    assert not multiprocessing.active_children()
    assert not any((tmp_path / n / "model.pt").exists() for n in rounds)


def test_with_pretraining_the_warm_up_continues_a_checkpoint_trained_on_pseudo_queries_alone(tmp_path):
    from core.data.corpora import load_corpus
    from core.pipeline.build import rounds
    from core.pipeline.driver import Pipeline

    cfg = tiny_pipeline_config(tmp_path, epochs=1)
    cfg.build.pretrain_queries = 8
    out = tmp_path / "artifacts"
    driver = Pipeline(cfg, load_corpus(cfg.data.source), out, rounds(cfg, out))
    assert driver.train(["warmup"]) == {"warmup": True}
    pretrained = json.loads((out / "pretrained" / "log.json").read_text())
    assert (
        pretrained["data"]["source"].startswith("pseudo-queries of")
        and pretrained["data"]["train_queries"] == 8
    )
    assert pretrained["config"]["train"]["epochs"] == 1
    assert pretrained["steps"] == -(-8 // cfg.train.batch_size)
    warmup = json.loads((out / "warmup" / "config.json").read_text())
    assert warmup["train"]["init_from"] == str(out / "pretrained" / "model.pt")
    assert not set(driver.pseudo.queries.text) & set(driver.corpus.queries.text), "no labelled query in it"
    again = Pipeline(cfg, driver.corpus, out, rounds(cfg, out))
    assert again.train(["warmup"]) == {"warmup": False}, "both up to date"
