"""What protects a run from its settings: every setting has a rule (a type, and for numbers a range;
names from one registry per kind), checked once, before any data is loaded, in the same place for
the CLI, `--config` files and the launcher; every failure is one `error:` line naming the flag or
the file. Checkpoints with non-finite weights or a broken `meta`, an empty GloVe file and malformed
data rows are refused the same way."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from core.common.artifacts import CheckpointError
from core.common.config import Config, ConfigError, ModelConfig, TrainConfig, validate
from core.common.settings import CHOICES, RULES
from core.model.losses import make_loss
from core.model.two_tower import TwoTower, load_checkpoint, save_checkpoint
from core.pipeline import cli
from core.runs import launcher
from core.training.session import lr_lambda
from tests.unit.test_reliability import TINY, one_error_line


def test_every_setting_has_a_rule():
    fields = {
        f"{section}.{f.name}"
        for section in dataclasses.asdict(Config())
        for f in dataclasses.fields(getattr(Config(), section))
    }
    assert fields - set(RULES) == set(), "a setting without a rule (type, range or choices)"


def test_every_registered_choice_is_implemented(glove_vocab):
    for loss in CHOICES["loss"]:
        assert make_loss(TrainConfig(loss=loss)).name == loss
    for tower in CHOICES["tower"]:
        for pooling in CHOICES["pooling"]:
            cfg = ModelConfig(tower=tower, pooling=pooling, hidden=4, out_dim=4, lexical=False)
            model = TwoTower.from_vocab(cfg, glove_vocab)
            assert model.encode_query(torch.tensor([[2, 3]]), torch.tensor([2])).dense.shape == (1, 4)
    for schedule in CHOICES["schedule"]:
        assert lr_lambda(schedule, 2, 10)(5) > 0


# what each flag used to do: a traceback, silently another setting, or an error after the whole run
BAD_FLAGS = {
    "--layers 0": "--layers must be a whole number from 1",
    "--out-dim -1": "--out-dim must be a whole number from 0",
    "--threads -1": "--threads must be a whole number from 0",
    "--pooling foo": "--pooling must be mean or last, not 'foo'",
    "--schedule foo": "--schedule must be cosine or constant",
    "--tower foo": "--tower must be gru or avg",
    "--margin -5": "--margin must be a finite number from 0 to 2",
    "--margin nan": "--margin must be a finite number",
    "--clip -1": "--clip must be a finite number above 0",
    "--clip nan": "--clip must be a finite number",
    "--random-mix nan": "--random-mix must be a finite number from 0 to 1",
    "--query-len -1": "--query-len must be a whole number from 1",
    "--passage-len 0": "--passage-len must be a whole number from 1",
    "--top-n -5": "--top-n must be a whole number of at least 0",
    "--temperature 1e-30": "--temperature must be a finite number from 0.001",
    "--val-fraction 0.9999": "--val-fraction must be a finite number above 0 to 0.9",
    "--bm25-negatives -3": "--bm25-negatives must be a whole number from 0",
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_a_bad_flag_is_one_error_line_before_any_data_is_read(case, tmp_path, capsys):
    nowhere = str(tmp_path / "nowhere.jsonl")  # the error comes first: nothing was loaded
    code = cli.main(["train", "--out", str(tmp_path / "run"), "--source", nowhere, *case.split()])
    assert code == 2 and BAD_FLAGS[case] in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_mine_eval_and_bench_check_their_numbers(tmp_path, capsys):
    nowhere = str(tmp_path / "nowhere.jsonl")
    mine = ["mine", "--checkpoint", "x.pt", "--out", str(tmp_path / "m.json"), "--source", nowhere]
    assert cli.main([*mine, "--bm25-negatives", "-3"]) == 2
    assert "--bm25-negatives" in one_error_line(capsys)
    assert cli.main(["eval", "--checkpoint", "bm25", "--data", nowhere, "--val-fraction", "2"]) == 2
    assert "--val-fraction must be" in one_error_line(capsys)
    for n in ("0", "-1"):
        assert cli.main(["bench", "--data", nowhere, "--artifacts", str(tmp_path), "--queries", n]) == 2
        assert "--queries must be a whole number from 1" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


CONFIG_FILES = {
    "an unknown key": ({"train": {"foo": 1}}, "unknown setting train.foo"),
    "a list": ([], "must be a JSON object of sections"),
    "a word for a number": ({"model": {"hidden": "x"}}, "--hidden must be a whole number from 1"),
    "an unknown section": ({"trian": {"lr": 1}}, "'trian' is not a section"),
    "NaN": ({"train": {"lr": float("nan")}}, "--lr must be a finite number"),
}


@pytest.mark.parametrize("case", CONFIG_FILES)
def test_a_bad_config_file_is_one_error_line_naming_the_key(case, tmp_path, capsys):
    settings, message = CONFIG_FILES[case]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--config", str(path)]) == 2
    assert message in one_error_line(capsys)


def test_a_config_that_is_a_folder_or_not_json_names_the_file(tmp_path, capsys):
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--config", str(tmp_path)]) == 2
    assert f"--config {tmp_path} is not a file" in one_error_line(capsys)
    (tmp_path / "bad.json").write_text("{" * 100_000)
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--config", str(tmp_path / "bad.json")]) == 2
    assert "bad.json is not a JSON file of settings" in one_error_line(capsys)


def test_the_launcher_and_train_itself_use_the_same_checks(tmp_path):
    with pytest.raises(launcher.RunError, match="--pooling must be mean or last"):
        launcher.run_config(tmp_path, pooling="foo")
    cfg = Config()
    cfg.train.threads = -1
    with pytest.raises(ConfigError, match="--threads"):
        validate(cfg)


def checkpoint_with(path: Path, glove_vocab, meta, poison: bool = False) -> Path:
    model = TwoTower.from_vocab(ModelConfig(hidden=4, out_dim=4, lexical=False), glove_vocab)
    if poison:
        with torch.no_grad():
            next(model.towers[0].parameters())[0, 0] = float("nan")
    save_checkpoint(path, model, glove_vocab, meta)
    return path


def test_checkpoints_with_non_finite_weights_or_a_broken_meta_are_refused(tmp_path, glove_vocab):
    with pytest.raises(CheckpointError, match="non-finite weights"):
        load_checkpoint(checkpoint_with(tmp_path / "nan.pt", glove_vocab, {}, poison=True))
    with pytest.raises(CheckpointError, match="its meta is a list"):
        load_checkpoint(checkpoint_with(tmp_path / "meta.pt", glove_vocab, ["not", "a", "dict"]))
    assert load_checkpoint(checkpoint_with(tmp_path / "ok.pt", glove_vocab, {"name": "ok"}))[2] == {
        "name": "ok"
    }


def test_an_empty_glove_file_is_an_error_naming_it(tiny_jsonl, capsys):
    empty = tiny_jsonl.parent / "glove.6B.50d.txt"
    empty.write_text("")
    out = str(tiny_jsonl.parent / "run")
    assert cli.main(["train", "--out", out, "--source", str(tiny_jsonl), *TINY, "--glove", str(empty)]) == 2
    assert f"{empty} holds no GloVe vectors" in one_error_line(capsys)
    missing = str(tiny_jsonl.parent / "nope.txt")
    assert cli.main(["train", "--out", out, "--source", str(tiny_jsonl), *TINY, "--glove", missing]) == 2
    assert f"--glove {missing} does not exist" in one_error_line(capsys)


@pytest.mark.parametrize(
    "row", ['{"a": ' * 100_000 + "1" + "}" * 100_000, '{"query_id": ' + "7" * 5000 + "}"]
)
def test_a_deeply_nested_or_huge_number_row_names_the_file_and_line(row, tiny_jsonl, capsys):
    tiny_jsonl.write_text(tiny_jsonl.read_text() + row + "\n")
    code = cli.main(["eval", "--checkpoint", "bm25", "--data", str(tiny_jsonl)])
    assert code == 2 and f"{tiny_jsonl}:19: not valid JSON" in one_error_line(capsys)
