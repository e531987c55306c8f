"""Every setting's rule in one place: the choices of each kind (losses, towers, pooling, schedules,
negatives), so a new choice is added once, and the type and range of every number. The losses are read
from their registry (`core.model.losses.LOSSES`, a layer above), which binds its view here
(`Registered`) as it loads. `core.common.config.validate` applies them, for the CLI, the launcher,
`--config` files and `train` alike; `problem` says what is wrong with one value, naming its flag."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass


class Registered(Mapping):
    """The choices of a kind whose registry lives in a layer above (`owner`): a live view of it, each
    name's label its class's `label`, bound by that module as it loads (`bind`), so a choice added to
    the registry is a choice here with nothing restated. Read before then, it says which module to
    import."""

    def __init__(self, owner: str):
        self.owner, self._registry = owner, None

    def bind(self, registry: Mapping[str, type]) -> None:
        self._registry = registry

    def _entries(self) -> Mapping[str, type]:
        if self._registry is None:
            raise LookupError(f"these choices are read from {self.owner}: import it first")
        return self._registry

    def __getitem__(self, name: str) -> str:
        return self._entries()[name].label

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())


CHOICES = {  # each kind's names, with what the app calls them
    "loss": Registered("core.model.losses.LOSSES"),
    "tower": {  # core.model.two_tower.TOWERS
        "gru": "GRU",
        "avg": "average of word vectors",
        "rnn": "RNN (tanh)",
        "lstm": "LSTM",
    },
    "pooling": {"mean": "mean of the recurrent states", "last": "last recurrent states"},
    "schedule": {
        "cosine": "cosine decay",
        "constant": "constant",
    },  # core.training.session.lr_lambda, after warm-up
    "negatives": {"random": "random", "hard": "hard (mined)"},  # core.data.triplets
    "adapt_negatives": {  # core.training.adapt.mined_negatives
        "bm25": "mined by BM25 on the corpus",
        "model": "mined by the checkpoint adapted",
        "random": "random",
    },
    "pseudo": {"title": "titles", "ict": "a sentence cut out", "crop": "random spans"},  # core.data.pseudo
}
ADAPT_STEPS = 200  # an adaptation's budget in optimiser steps: the same for every corpus, chosen by no score
BIG = 1 << 31  # "any size": the bound of a count with no natural one


@dataclass(frozen=True)
class Rule:
    """What one setting accepts: a `kind` (int, float, str, bool), for numbers a range (`low`/`high`,
    excluded when `open_low`/`open_high`), for names the choices, and whether None (unset) is allowed."""

    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: Collection[str] | None = None
    optional: bool = False


def whole(low: int, high: int = BIG) -> Rule:
    return Rule(int, low, high)


def real(low: float, high: float, open_low: bool = False, open_high: bool = False) -> Rule:
    return Rule(float, low, high, open_low, open_high)


def choice(kind: str) -> Rule:
    """The rule of a name of `kind`: one of its choices, read when a value is checked."""
    return Rule(str, choices=CHOICES[kind])


PATH = Rule(str, optional=True)  # a file; whether it exists is checked where it is used
SWITCH = Rule(bool)
RATE = real(0, 1000, open_low=True)
SHARE = real(0, 1)

RULES: dict[str, Rule] = {
    "data.source": PATH,
    "data.val_fraction": real(0, 0.9, open_low=True),
    "data.tune_fraction": real(0, 0.9, open_high=True),  # 0: no tuning slice (fusion weights then say so)
    "data.query_len": whole(1, 4096),
    "data.passage_len": whole(1, 4096),
    "vocab.glove": PATH,
    "vocab.top_n": whole(0),
    "vocab.keep_oov": SWITCH,
    "model.vocab_size": whole(0),
    "model.embed_dim": whole(1, 4096),
    "model.tower": choice("tower"),
    "model.hidden": whole(1, 4096),
    "model.layers": whole(1, 16),
    "model.bidirectional": SWITCH,
    "model.pooling": choice("pooling"),
    "model.mean_path": SWITCH,
    "model.out_dim": whole(0, 8192),
    "model.shared": SWITCH,
    "model.freeze_embeddings": SWITCH,
    "model.lexical": SWITCH,
    "train.loss": choice("loss"),
    "train.margin": real(0, 2),  # on cosine distance, which lies in [0, 2]
    "train.temperature": real(1e-3, 100),  # below, exp(score / t) overflows
    "train.negatives": choice("negatives"),
    "train.hard_file": PATH,
    "train.random_mix": SHARE,
    "train.negatives_per_query": whole(1, 64),
    "train.distill": real(0, 1000),
    "train.teacher_file": PATH,
    "train.epochs": whole(1, 10_000),
    "train.batch_size": whole(1, 1 << 16),
    "train.lr": RATE,
    "train.embed_lr": RATE,
    "train.weight_decay": real(0, 1),
    "train.clip": real(0, 1e6, open_low=True),
    "train.schedule": choice("schedule"),
    "train.warmup_steps": whole(0),
    "train.length_batches": SWITCH,
    "train.max_queries": whole(0),
    "train.init_from": PATH,
    "train.seed": whole(0, (1 << 32) - 1),
    "train.threads": whole(0, 1024),
    "build.mine_depth": whole(1, 10_000),
    "build.mine_skip": whole(0, 10_000),
    "build.drop_above_positive": SWITCH,
    "build.mine_keep": whole(0, 10_000),  # 0: no dense negatives (BM25's alone, with --bm25-negatives)
    "build.dup_threshold": SHARE,
    "build.bm25_negatives": whole(0, 10_000),
    "build.file_negatives": SWITCH,
    "build.pretrain_queries": whole(0),
    "projection.umap_max_passages": whole(10),
    "projection.umap_neighbors": whole(2, 200),
    "projection.umap_min_dist": SHARE,
    "projection.umap_seed": whole(0, (1 << 32) - 1),
    "bench.queries": whole(1, 100_000),  # `bench`'s own flags
    "bench.minilm": whole(0),
    "build.jobs": whole(1, 2),  # `build`'s own: there are two compared rounds
    "adapt.steps": whole(1, 100_000),  # `adapt`'s own: its budget
}
RULES.update({"round." + n.partition(".")[2]: r for n, r in RULES.items() if n.startswith("train.")})
SECTION_PREFIX = {"round": "round-"}  # the flags of a section whose fields share another's names


def default_rule(default) -> Rule:
    """The rule of a setting RULES does not list (a new one, until it gets its own): its default's type,
    any value."""
    if default is None:
        return PATH
    number = isinstance(default, (int, float)) and not isinstance(default, bool)
    return Rule(type(default), -BIG, BIG) if number else Rule(type(default))


def flag(name: str) -> str:
    """The CLI flag of a setting: `train.batch_size` -> `--batch-size`, `round.batch_size` ->
    `--round-batch-size`."""
    section, _, field = name.rpartition(".")
    return "--" + SECTION_PREFIX.get(section, "") + field.replace("_", "-")


def _range(rule: Rule) -> str:
    low = "above" if rule.open_low else "from"
    if rule.high is None or rule.high >= BIG:
        return f"{low} {rule.low:g}" if rule.open_low else f"of at least {rule.low:g}"
    high = "below" if rule.open_high else "to"
    return f"{low} {rule.low:g} {high} {rule.high:g}"


SHOWN = 80  # characters of a value a message repeats


def shown(value) -> str:
    """`value` as a message repeats it: its repr, cut to SHOWN characters (a 10 MB value is not echoed)."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}… ({len(text):,} characters)"


def problem(name: str, value, rule: Rule) -> str | None:
    """What is wrong with `value` for the setting `name` under `rule`, naming its flag; None when fine."""
    if value is None and rule.optional:
        return None
    if rule.choices is not None:
        return (
            None
            if value in rule.choices
            else f"{flag(name)} must be {' or '.join(rule.choices)}, not {shown(value)}"
        )
    if rule.kind is bool:
        return None if isinstance(value, bool) else f"{flag(name)} must be true or false, not {shown(value)}"
    if rule.kind is str:
        return None if isinstance(value, str) else f"{flag(name)} must be a text (a path), not {shown(value)}"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if rule.kind is int and not (number and isinstance(value, int)):
        return f"{flag(name)} must be a whole number {_range(rule)}, not {shown(value)}"
    what = "a whole number" if rule.kind is int else "a finite number"
    if not (number and math.isfinite(value)) or not _within(value, rule):
        return f"{flag(name)} must be {what} {_range(rule)}, not {shown(value)}"
    return None


def _within(value: float, rule: Rule) -> bool:
    above = value > rule.low if rule.open_low else value >= rule.low
    below = rule.high is None or (value < rule.high if rule.open_high else value <= rule.high)
    return above and below
