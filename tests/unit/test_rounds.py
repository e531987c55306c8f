"""The build's rounds: the two compared ones start from the warm-up with the same settings and differ
only in their negatives (core.pipeline.build.stage_configs)."""

from pathlib import Path

from core.common.config import Config
from core.pipeline.build import stage_configs


def test_random_and_hard_differ_only_in_their_negatives():
    cfg = Config()
    cfg.build.round_epochs, cfg.build.round_lr, cfg.build.round_negatives = 3, 1e-3, 4
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
    assert warmup["train"]["init_from"] is None and warmup["train"]["negatives"] == "random"
    assert (warmup["train"]["epochs"], warmup["train"]["lr"]) == (cfg.train.epochs, cfg.train.lr)


def test_a_hard_random_mix_is_the_one_other_difference_and_only_when_asked():
    cfg = Config()
    cfg.build.hard_random_mix = 0.25
    rounds = stage_configs(cfg, Path("w.pt"), Path("m.json"))
    assert (rounds["random"].train.random_mix, rounds["hard"].train.random_mix) == (0.0, 0.25)
