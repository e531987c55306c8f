"""Training runs: the lock (one run at a time), cancelling and crashing (the process is gone and
artifacts/ stays consistent), the runs table and curves, and the training page end to end: a short
run launched from the page that then appears on the Search page (the launcher's config and what a
run reports are tested without a run in tests/unit/test_tracking.py).

The launcher tests train on the tiny corpus of conftest (no real data needed); the page test runs
the committed checkpoints over the first CORPUS_QUERIES real dev queries."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from core.common import artifacts
from core.common.artifacts import write_json
from core.runs import jobs, launcher, processes
from core.runs import overview as runs
from tests.conftest import demo_jsonl

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
REAL_ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts")
COMMITTED = ("random", "hard")
CORPUS_QUERIES = 1200
SHORT_RUN_S = 120


def wait_for(condition, timeout: float, what: str, step: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def assert_consistent(art: Path, job: jobs.Job) -> None:
    """No lock, no partial or old folders, no checkpoint folder for a run that did not finish, and the
    runs table on disk agrees with the job record."""
    folder = artifacts.runs_dir(art)
    assert not (folder / launcher.LOCK).exists(), "the lock is released"
    assert not [p.name for p in folder.iterdir() if p.name.endswith((".partial", ".old"))]
    assert not (folder / job.run).exists() and artifacts.run_checkpoints(art) == {}
    rows = {r["run"]: r for r in json.loads((folder / "runs.json").read_text())}
    assert rows[job.name]["status"] == job.status
    assert f"{job.name},{job.status}," in (folder / "runs.csv").read_text()


@pytest.fixture
def tiny_env(tmp_path, tiny_jsonl, monkeypatch):
    art = tmp_path / "artifacts"
    art.mkdir()
    monkeypatch.setenv("ARTIFACTS_DIR", str(art))
    monkeypatch.setenv("MSMARCO_SOURCE", str(tiny_jsonl))
    yield art
    launcher.cancel(art, grace_s=2)  # never leave a process behind, whatever failed


# --- the launcher --------------------------------------------------------------------------------


def test_cancel_stops_the_process_and_leaves_artifacts_consistent(tiny_env, monkeypatch):
    cfg = launcher.run_config(tiny_env, hidden=8, out_dim=16, epochs=5000, batch_size=4, warmup_steps=1)
    job = launcher.launch(cfg, tiny_env)
    wait_for(lambda: runs.progress(job, tiny_env).event in ("batch", "epoch"), 90, "training to start")
    assert (artifacts.runs_dir(tiny_env) / f".{job.run}.partial").is_dir(), (
        "training writes into its partial folder"
    )
    with pytest.raises(launcher.RunError, match="already in progress"):
        launcher.launch(cfg, tiny_env)
    assert launcher.refresh(tiny_env).run == job.run
    sent, killpg = [], os.killpg
    monkeypatch.setattr(os, "killpg", lambda pid, sig: (sent.append(sig), killpg(pid, sig)))
    cancelled = launcher.cancel(tiny_env)
    assert cancelled.status == "cancelled"
    assert sent == [signal.SIGTERM], "the run ends on SIGTERM: SIGKILL is never needed"
    assert process_gone(job.pid)
    assert launcher.refresh(tiny_env) is None
    assert_consistent(tiny_env, cancelled)
    assert runs.progress(cancelled, tiny_env).log["batches"], "the curves so far are kept for the record"
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/pages/training.py").run()
    assert not at.exception, [e.value for e in at.exception]
    row = at.dataframe[0].value.set_index("id").loc[job.name]
    assert row.status == "cancelled" and row.isna()[["MRR@10 (val)", "final loss"]].all(), "no final metrics"
    assert "no final metrics" in at.warning[0].value and row.run.startswith("run ") and "GRU 8" in row.run


def test_a_run_cancelled_before_it_wrote_anything_has_a_duration_of_zero_or_more(tiny_env):
    cfg = launcher.run_config(tiny_env, hidden=8, out_dim=16, epochs=5000, batch_size=4, warmup_steps=1)
    job = launcher.launch(cfg, tiny_env)
    output = jobs.job_dir(artifacts.runs_dir(tiny_env), job.run) / "output.log"
    os.utime(output, (job.started - 1, job.started - 1))  # the empty log was made before the start time
    cancelled = launcher.cancel(tiny_env)  # before Python has imported torch: nothing written yet
    assert output.stat().st_size == 0 and cancelled.seconds >= 0 and cancelled.ended >= cancelled.started
    row = next(r for r in runs.table(tiny_env) if r["run"] == job.name)
    assert str(row["duration_s"])[0] != "-", row["duration_s"]  # never -0.0


def test_runs_started_in_the_same_minute_get_different_labels(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    art = tmp_path / "artifacts"
    monkeypatch.setenv("ARTIFACTS_DIR", str(art))
    folder = artifacts.runs_dir(art)
    start = time.mktime((2026, 1, 5, 14, 2, 7, 0, 0, -1))
    for i, run in enumerate(("20260105-140207", "20260105-140240")):
        jobs.job_dir(folder, run).mkdir(parents=True)
        launcher.run_config(art, hidden=8).save(jobs.job_dir(folder, run) / "config.json")
        jobs.save_job(folder, jobs.Job(run, "cancelled", 1, start + 33 * i, [], ended=start + 33 * i + 5))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/pages/training.py").run()
    assert not at.exception, [e.value for e in at.exception]
    labels = list(at.dataframe[0].value.run)
    assert len(labels) == 2 and len(set(labels)) == 2 and labels[1].startswith("run 14:02:07 ·"), labels
    label = json.loads(at.dataframe[0].proto.columns)["run"]
    assert label["width"] == "medium", "a long label does not push the metric columns out of view"


def test_a_lock_whose_process_is_gone_is_stale(tmp_path):
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    write_json(tmp_path / "runs" / launcher.LOCK, {"run": "x", "pid": gone.pid})
    assert launcher.refresh(tmp_path) is None and not (tmp_path / "runs" / launcher.LOCK).exists()
    me = {"run": "x", "pid": os.getpid(), "start": processes.process_start(os.getpid())}
    write_json(tmp_path / "runs" / launcher.LOCK, me)  # alive: kept, launches refused
    launcher.refresh(tmp_path)
    with pytest.raises(launcher.RunError, match="already in progress"):
        launcher.launch(launcher.run_config(tmp_path), tmp_path)


def test_a_crashed_run_reports_its_error_and_leaves_no_partial_checkpoint(tiny_env):
    bad = tiny_env / "mined" / "negatives.json"
    bad.parent.mkdir()
    bad.write_text("{ not json")
    job = launcher.launch(launcher.run_config(tiny_env, negatives="hard", epochs=1), tiny_env)
    wait_for(lambda: launcher.refresh(tiny_env) is None, 90, "the run to fail")
    failed = jobs.jobs(tiny_env)[-1]
    assert failed.run == job.run and failed.status == "failed" and failed.returncode not in (None, 0)
    assert "error:" in failed.error, failed.error
    assert_consistent(tiny_env, failed)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/pages/training.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "failed" in at.error[0].value and failed.error.splitlines()[-1] in at.error[0].value


# --- table and curves ----------------------------------------------------------------------------

needs_committed = pytest.mark.skipif(
    not all((REAL_ARTIFACTS / n / "log.json").is_file() for n in COMMITTED),
    reason="committed checkpoints' logs not found: run `python -m core build`",
)


@needs_committed
def test_table_and_curves_cover_the_committed_checkpoints():
    rows = {r["run"]: r for r in runs.table(REAL_ARTIFACTS) if r["run"] in COMMITTED}
    for name in COMMITTED:
        log = json.loads((REAL_ARTIFACTS / name / "log.json").read_text())
        row = rows[name]
        assert row["status"] == "done" and row["data_fingerprint"] == log["data"]["fingerprint"]
        assert (
            row["val_mrr@10"] == log["epochs"][-1]["val"]["mrr@10"]
            and row["epochs_done"] == len(log["epochs"]) - 1
        )
        assert row["negatives"] == log["config"]["train"]["negatives"] and row["duration_s"] == log["seconds"]
    batches, epochs = runs.curves({n: runs.logs(REAL_ARTIFACTS)[n] for n in COMMITTED})
    random_epochs = epochs[epochs.run == "random"]
    assert list(random_epochs.epoch) == list(range(len(random_epochs)))  # epoch 0: untrained
    assert random_epochs["mrr@10"].iloc[-1] > random_epochs["mrr@10"].iloc[0]
    last = batches[batches.run == "random"].x.max()
    assert abs(last - (len(random_epochs) - 1)) < 1e-9  # x in epochs


@needs_committed
def test_a_cli_run_under_runs_is_a_row_and_a_checkpoint(tmp_path):
    """`python -m core train --out artifacts/runs/ID` (no launcher record) shows up like a launched run."""
    from core.common.artifacts import find_checkpoints

    for folder in (
        "random",
        "runs/cli",
        ".hard.partial",
        "runs/.next.partial",
    ):  # the last two: still being written
        (tmp_path / folder).mkdir(parents=True)
        for f in ("model.pt", "log.json"):
            (tmp_path / folder / f).symlink_to(REAL_ARTIFACTS / "random" / f)
    assert list(find_checkpoints(tmp_path)) == ["random", "run-cli"]
    assert list(runs.logs(tmp_path)) == ["random", "run-cli"]
    rows = runs.write_table(tmp_path)
    assert [(r["run"], r["status"]) for r in rows] == [("random", "done"), ("run-cli", "done")]
    assert rows[1]["finished"] and rows[0]["finished"] is None  # a checkout's file times mean nothing
    assert json.loads((tmp_path / "runs" / "runs.json").read_text()) == rows
    assert (tmp_path / "runs" / "runs.csv").read_text() == runs.table_csv(rows)


# --- the page, end to end ------------------------------------------------------------------------


@pytest.fixture
def page_env(tmp_path, monkeypatch):
    """An artifacts folder with the committed checkpoints (linked), their logs and the mined file, and a
    corpus of the first CORPUS_QUERIES real dev queries."""
    art = tmp_path / "artifacts"
    for name in COMMITTED:
        (art / name).mkdir(parents=True)
        for f in (REAL_ARTIFACTS / name).iterdir():
            (art / name / f.name).symlink_to(f)
    shutil.copytree(REAL_ARTIFACTS / "mined", art / "mined")
    corpus = demo_jsonl(tmp_path / "corpus.jsonl", stop=CORPUS_QUERIES)
    monkeypatch.setenv("ARTIFACTS_DIR", str(art))
    monkeypatch.setenv("MSMARCO_SOURCE", str(corpus))
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    yield art
    launcher.cancel(art, grace_s=2)


@pytest.mark.skipif(
    not all((REAL_ARTIFACTS / n / "model.pt").is_file() for n in COMMITTED),
    reason="needs the committed checkpoints",
)
def test_a_short_run_launched_from_the_page_appears_in_the_table_and_on_search(page_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/pages/training.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.multiselect[0].value) == set(COMMITTED), "the committed pair's curves overlaid"
    at.number_input(key="train_hidden").set_value(32)
    at.number_input(key="train_max_queries").set_value(200)
    at.number_input(key="train_epochs").set_value(1)
    submit = next(b for b in at.button if b.label == "Start training")
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = launcher.refresh(page_env)
    assert job is not None, "the run is training in the background"
    seen = [bar(at)]
    assert seen[0][1].startswith(("Phase 1 of 4", "Phase 2 of 4")) and seen[0][0] > 0, "loading counts too"
    next(b for b in at.button if b.label == "Start training").click().run()
    assert "already in progress" in " ".join(e.value for e in at.error), "a second run is refused"

    def finished():
        at.run()
        if at.get("progress"):
            seen.append(bar(at))
        return at.success or [e for e in at.error if "already in progress" not in e.value]

    wait_for(finished, SHORT_RUN_S, "the short run to finish", step=1)
    print(f"short run: phases seen {[(round(f, 2), t.split(' · ')[0]) for f, t in seen]}")
    assert at.success and "GRU 32" in at.success[0].value, [e.value for e in at.error]
    assert "already in progress" not in " ".join(e.value for e in at.error), "the refusal ends with the run"
    assert [f for f, _ in seen] == sorted(f for f, _ in seen), "the bar only moves forward"
    assert len({t.split(" · ")[0].split(":")[0] for _, t in seen}) >= 2, "more than one phase shown"
    table = at.dataframe[0].value
    row = table.set_index("id").loc[job.name]
    assert (
        row.status == "done" and row["train queries"] == 200 and row.hidden == 32 and row["MRR@10 (val)"] > 0
    )
    assert row["epochs done"] == 1, "a short run: the one epoch asked for"
    assert any(o.startswith("run ") and "GRU 32" in o for o in at.multiselect[0].options), "a readable label"
    assert (artifacts.runs_dir(page_env) / job.run / "model.pt").is_file()

    search = AppTest.from_file(APP, default_timeout=120)
    search.query_params.update({"model": job.name, "q": "what is a python", "k": "3"})
    search.switch_page("views/pages/search.py").run()
    assert not search.exception, [e.value for e in search.exception]
    assert (
        job.name in search.selectbox(key="model").options and search.selectbox(key="model").value == job.name
    )
    assert len([h for h in search.html if 'class="card' in h.value]) == 3


# --- what a run reports --------------------------------------------------------------------------


def bar(at) -> tuple[float, str]:
    """(fraction, text from the phase on, past the run's label) of the training page's progress bar."""
    proto = at.get("progress")[0].proto
    return proto.value / 100, proto.text[proto.text.find("Phase") :] if "Phase" in proto.text else proto.text


@needs_committed
def test_the_margin_line_is_drawn_only_for_triplet_runs():
    from views.parts.charts import training_figures

    logs = {n: runs.logs(REAL_ARTIFACTS)[n] for n in COMMITTED}
    labels = {n: n for n in logs}
    losses = {log["config"]["train"]["loss"] for log in logs.values()}
    epoch_loss = training_figures(logs, labels, 10)[2]
    assert bool(epoch_loss.layout.shapes) == ("triplet" in losses)
    config = logs["hard"]["config"]
    logs["hard"] = {**logs["hard"], "config": {**config, "train": {**config["train"], "loss": "triplet"}}}
    assert len(training_figures(logs, labels, 10)[2].layout.shapes) == 1
