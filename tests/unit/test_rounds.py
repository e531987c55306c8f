"""The build's rounds: the warm-up trains the `train` settings, the two compared rounds the `round`
settings from the warm-up, differing only in their negatives, passed explicitly
(core.training.rounds); a setting a round would have to replace is an error naming its flag, raised
where a build's config is made; a config.json holding round settings in `build` is refused."""

from pathlib import Path

import pytest

from core.common.config import Config, ConfigError, TrainConfig, check_stages
from core.pipeline import cli, flags
from core.training.rounds import round_config, trained_with, warmup_config
from tests.unit.test_reliability import one_error_line

ROOT = Path(__file__).resolve().parents[2]


def stage_configs(cfg: Config, warmup_ckpt: Path, mined: Path) -> dict[str, Config]:
    """Each build round's config, as `core.pipeline.build.build` makes them."""
    return {
        "warmup": warmup_config(cfg),
        "random": round_config(cfg, "random", warmup_ckpt),
        "hard": round_config(cfg, "hard", warmup_ckpt, mined),
    }


def test_random_and_hard_differ_only_in_their_negatives():
    cfg = Config()
    cfg.round.epochs, cfg.round.lr, cfg.round.negatives_per_query = 3, 1e-3, 4
    rounds = stage_configs(cfg, Path("a/warmup/model.pt"), Path("a/mined/negatives.json"))
    warmup, random, hard = (rounds[n].to_dict() for n in ("warmup", "random", "hard"))
    assert (random["train"].pop("negatives"), hard["train"].pop("negatives")) == ("random", "hard")
    assert (random["train"].pop("hard_file"), hard["train"].pop("hard_file")) == (
        None,
        "a/mined/negatives.json",
    )
    assert random == hard
    assert hard["train"]["init_from"] == "a/warmup/model.pt"
    assert (hard["train"]["epochs"], hard["train"]["lr"], hard["train"]["negatives_per_query"]) == (
        3,
        1e-3,
        4,
    )
    # the warm-up trains from scratch with the train section as given, random negatives
    assert warmup["train"] == Config().to_dict()["train"]


def test_a_random_mix_is_the_one_other_difference_and_only_when_asked():
    cfg = Config()
    cfg.round.random_mix = 0.25
    rounds = stage_configs(cfg, Path("w.pt"), Path("m.json"))
    assert (rounds["random"].train.random_mix, rounds["hard"].train.random_mix) == (0.0, 0.25)


def test_every_round_setting_is_the_users_own():
    cfg = Config()
    cfg.round.batch_size, cfg.round.loss, cfg.train.seed = 32, "triplet", 5
    random = round_config(cfg, "random", "w.pt")
    assert (random.train.batch_size, random.train.loss, random.train.seed) == (32, "triplet", 13)
    assert stage_configs(cfg, Path("w.pt"), Path("m.json"))["warmup"].train.seed == 5


@pytest.mark.parametrize(
    "section, name, value, flag",
    [
        ("train", "negatives", "hard", "--negatives"),
        ("train", "init_from", "x.pt", "--init-from"),
        ("train", "hard_file", "m.json", "--hard-file"),
        ("round", "negatives", "hard", "--round-negatives"),
        ("round", "init_from", "x.pt", "--round-init-from"),
        ("round", "hard_file", "m.json", "--round-hard-file"),
    ],
)
def test_a_setting_a_round_sets_itself_is_refused_naming_its_flag(section, name, value, flag):
    cfg = Config()
    setattr(getattr(cfg, section), name, value)
    with pytest.raises(ConfigError, match=f"^{flag} {value} is not a build setting"):
        check_stages(cfg)


def test_the_build_refuses_it_before_reading_data(tmp_path, capsys):
    nowhere = str(tmp_path / "nowhere.jsonl")
    code = cli.main(
        ["build", "--artifacts", str(tmp_path / "a"), "--source", nowhere, "--round-negatives", "4"]
    )
    line = one_error_line(capsys)
    assert code == 2 and "--round-negatives 4 is not a build setting" in line
    assert "--round-negatives-per-query" in line


def test_round_flags_set_the_round_section():
    parsed = cli.build_parser().parse_args(
        ["build", "--round-epochs", "2", "--round-batch-size", "16", "--epochs", "3"]
    )
    cfg = flags.config_from_args(parsed)
    assert (cfg.round.epochs, cfg.round.batch_size, cfg.train.epochs, cfg.train.batch_size) == (2, 16, 3, 64)


@pytest.mark.parametrize("command", ["build", "experiments"])
def test_the_build_and_the_experiments_refuse_it_where_their_config_is_made(tmp_path, capsys, command):
    nowhere = str(tmp_path / "nowhere.jsonl")
    code = cli.main([command, "--artifacts", str(tmp_path / "a"), "--source", nowhere, "--init-from", "x.pt"])
    assert code == 2 and "--init-from x.pt is not a build setting" in one_error_line(capsys)


def test_round_settings_in_the_build_section_are_refused():
    """`round` is a section of its own: a `build.round_epochs` is no setting, and says so."""
    old = Config().to_dict()
    old["build"]["round_epochs"] = 5
    with pytest.raises(ConfigError, match="unknown setting build.round_epochs"):
        Config.from_dict(old)


def test_a_rounds_key_reads_the_same_settings_as_before():
    """`trained_with` is what the committed checkpoints' build keys hold: a TrainConfig (paths and
    threads left out), the model and data sections."""
    model, train, data = trained_with(round_config(Config(), "hard", "w.pt", "m.json"))
    assert train == TrainConfig(epochs=5, negatives="hard", negatives_per_query=4) and data.source is None
