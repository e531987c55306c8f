"""The build's training rounds, each from settings given explicitly: the warm-up trains `cfg.train`
from scratch with random negatives; the two compared rounds train `cfg.round`, continuing the
warm-up, one with random negatives and one with mined ones. What a round sets itself (its negatives,
the mined file, its start) is an argument here, never a user's setting replaced: a build given one
is refused (`core.common.config.check_stages`). A round is trained unless the key of its inputs
still matches the one its checkpoint stores."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

from core.common.artifacts import CheckpointError, key_of
from core.common.config import Config, check_stages
from core.common.types import Hook
from core.data.msmarco import Corpus
from core.data.text import TOKENIZER_VERSION
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.training.train import train

ROUNDS = ("warmup", "random", "hard")  # training stages, in order; random and hard are compared
COMPARED = ("random", "hard")


def warmup_config(cfg: Config) -> Config:
    """The warm-up round's config: `cfg.train` as given (from scratch, random negatives)."""
    return copy.deepcopy(check_stages(cfg))


def round_config(cfg: Config, negatives: str, start: str | Path, mined: str | Path | None = None) -> Config:
    """A compared round's config: `cfg.round`'s settings continuing the checkpoint `start`, with
    `negatives` "random" or "hard" (read from `mined`). `random_mix` mixes random negatives into
    mined ones, so a round of random negatives has none to mix (0)."""
    check_stages(cfg)
    hard = negatives == "hard"
    if hard and not mined:
        raise ValueError("a round of hard negatives needs the mined file")
    c = copy.deepcopy(cfg)
    c.train = replace(
        cfg.round,
        negatives=negatives,
        hard_file=str(mined) if hard else None,
        init_from=str(start),
        random_mix=cfg.round.random_mix if hard else 0.0,
    )
    return c


def stage_configs(cfg: Config, warmup_ckpt: Path, mined: Path) -> dict[str, Config]:
    """The resolved training config of each of the build's rounds, by name."""
    return {
        "warmup": warmup_config(cfg),
        **{name: round_config(cfg, name, warmup_ckpt, mined) for name in COMPARED},
    }


def trained_with(cfg: Config) -> tuple:
    """The settings a round's result depends on: the model, its training (`cfg.train`) and data
    sections. Paths are left out (fingerprints stand for what they point to), and so is the number
    of threads."""
    return (
        cfg.model,
        replace(cfg.train, hard_file=None, init_from=None, teacher_file=None, threads=0),
        replace(cfg.data, source=None),
    )


def round_key(cfg: Config, corpus: Corpus, vocab: Vocab, inputs_key: str = "") -> str:
    """What a round's checkpoint depends on: `trained_with`, the corpus, vocabulary and tokeniser,
    and `inputs_key` (the fingerprints of its start and mined file)."""
    fingerprints = (corpus.fingerprint(), vocab.fingerprint(), TOKENIZER_VERSION)
    return key_of(inputs_key, *trained_with(cfg), *fingerprints)


def stored_key(checkpoint: Checkpoint) -> str | None:
    try:
        return checkpoint.meta.get("build_key") if checkpoint.path.is_file() else None
    except CheckpointError:
        return None  # a corrupt checkpoint is rebuilt


def train_round(
    cfg: Config,
    corpus: Corpus,
    vocab: Vocab,
    out: Path,
    inputs_key: str = "",
    force: bool = False,
    hook: Hook | None = None,
) -> tuple[Checkpoint, bool]:
    """Train `out/model.pt` with `cfg.train` unless its `round_key` still matches: (the checkpoint,
    opened once for every later stage; whether it was trained). `hook` sees the training run."""
    ckpt = Checkpoint(out.name, out / "model.pt")
    key = round_key(cfg, corpus, vocab, inputs_key)
    fresh = force or stored_key(ckpt) != key
    if fresh:
        train(cfg, corpus, vocab, out, extra_meta={"build_key": key}, hook=hook)
        ckpt = Checkpoint(out.name, out / "model.pt")
    return ckpt, fresh
