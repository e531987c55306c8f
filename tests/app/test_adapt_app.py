"""Adapting from the Training page: launched in the background (`python -m core adapt`), its judged
metrics after each epoch, the link to Compare it beside the checkpoint it started from; cancelled, it
leaves nothing behind and never replaces the adapted checkpoint already there."""

from __future__ import annotations

import os
import signal

import pytest

from core.data.stored import write_corpus
from core.model.two_tower import file_fingerprint
from core.runs import launcher
from core.runs import overview as runs
from tests.app.test_training import APP, process_gone, wait_for
from tests.unit.test_adapt import judged_corpus, tiny_checkpoint

TRAINING, COMPARE = "views/pages/training.py", "views/pages/compare.py"


@pytest.fixture
def adapt_env(tmp_path, glove_vocab, tiny_jsonl, monkeypatch):
    """An artifacts folder with a tiny `hard` checkpoint and a judged corpus `tiny` added."""
    art = tmp_path / "artifacts"
    (art / "hard").mkdir(parents=True)
    tiny_checkpoint(art / "hard" / "model.pt", glove_vocab)
    (art / "corpora" / "tiny").mkdir(parents=True)
    write_corpus(judged_corpus(), art / "corpora" / "tiny" / "corpus.zip")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the run's temporary folder, checked empty
    monkeypatch.setenv("ARTIFACTS_DIR", str(art))
    monkeypatch.setenv("MSMARCO_SOURCE", str(tiny_jsonl))
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    yield art
    launcher.cancel(art, grace_s=2)


def training_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["corpus"] = "tiny"
    at.switch_page(TRAINING).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_an_adaptation_from_the_page_is_measured_each_epoch_and_compared_beside_its_start(
    adapt_env, monkeypatch
):
    monkeypatch.setattr(launcher, "ADAPT_STEPS", 6)
    at = training_page()
    assert at.selectbox(key="adapt_start").value == "hard"
    next(b for b in at.button if b.label == "Start adapting").click().run()
    job = launcher.refresh(adapt_env)
    assert job is not None and job.name == "hard@tiny", "adapting in the background, named for the corpus"

    def finished():
        at.run()
        return at.success or at.error

    wait_for(finished, 120, "the adaptation to finish", step=1)
    assert at.success and "hard@tiny" in at.success[0].value, [e.value for e in at.error]
    judged = next(d.value for d in at.dataframe if "ndcg@10 (reported)" in d.value.columns)
    assert list(judged.epoch) == list(range(len(judged))) and (judged.kept == "✓").sum() == 1
    links = [e for e in at.get("page_link") if "beside" in str(e.proto)]
    assert links and "hard@tiny" in links[0].proto.label and '"a": "hard"' not in links[0].proto.label
    assert "views/pages/compare.py" in links[0].proto.page or "compare" in links[0].proto.page

    compare = training_page()
    compare.query_params.update({"a": "hard", "b": "hard@tiny"})
    compare.switch_page(COMPARE).run()
    assert not compare.exception, [e.value for e in compare.exception]
    assert (compare.selectbox(key="a").value, compare.selectbox(key="b").value) == ("hard", "hard@tiny")

    # a second adaptation, cancelled: the finished one stays as it was, and nothing else is left
    adapted = adapt_env / "hard@tiny" / "model.pt"
    before = file_fingerprint(adapted)
    monkeypatch.setattr(launcher, "ADAPT_STEPS", 1000)  # longer than the test waits
    job = launcher.launch_adapt("tiny", "hard", adapt_env)
    wait_for(lambda: runs.progress(job, adapt_env).event in ("batch", "epoch"), 90, "training to start")
    sent, killpg = [], os.killpg
    monkeypatch.setattr(os, "killpg", lambda pid, sig: (sent.append(sig), killpg(pid, sig)))
    cancelled = launcher.cancel(adapt_env)
    assert cancelled.status == "cancelled" and sent == [signal.SIGTERM] and process_gone(job.pid)
    assert file_fingerprint(adapted) == before, "the adapted checkpoint already there is kept"
    left = [p.name for p in adapt_env.iterdir() if p.name.startswith(".") or "@" in p.name]
    assert left == ["hard@tiny"], "no partial, old or ready folder, no lock"
    assert not list((adapt_env.parent / "tmp").glob("adapt-*")), "no temporary start or mined file is left"
