"""The arms' workbench: the inputs every arm shares (corpus, splits, vocabulary), training an arm
(from scratch, or a round continuing a checkpoint, mining first for hard negatives) and scoring it on
the validation and tuning queries, with its hybrid and its training and encoding speeds.
`core.pipeline.experiments` decides which arms run and tables them."""

from __future__ import annotations

import copy
import time
from pathlib import Path

from core.common.artifacts import key_of, read_json
from core.common.config import Config
from core.common.types import Tally
from core.data.corpus import Corpus, split_queries
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.pipeline.arms import BY_NAME, WARMUP, Arm
from core.retrieval.evaluate import IREvaluator
from core.retrieval.hybrid import Hybrid, fit_on_corpus, fitting_queries
from core.retrieval.lexical import Lexical
from core.retrieval.registry import Setting, make
from core.training.mining import mine_file, mining_index
from core.training.rounds import round_config, train_round, warmup_config
from core.training.tracking import tally_hook


def resolve(base: Config, overrides: dict) -> Config:
    cfg = copy.deepcopy(base)
    for dotted, value in overrides.items():
        try:
            cfg.set(dotted, value)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return cfg


def evaluate_on(ranker, corpus: Corpus, qids: list[str]) -> dict:
    """Metrics of a ranker on these queries in every mode, without the corpus size."""
    metrics = IREvaluator.from_corpus(corpus, qids)(ranker)
    return {mode: {k: v for k, v in m.items() if k != "corpus"} for mode, m in metrics.items()}


class Lab:
    """The shared inputs of every arm: corpus, splits, vocabulary, and the checkpoints trained so far."""

    def __init__(self, base: Config, corpus: Corpus, root: Path, progress: Tally | None = None):
        self.base, self.corpus, self.root, self.progress = base, corpus, root, progress
        d = base.data
        self.train_qids, self.val_qids = split_queries(corpus, d.val_fraction, d.tune_fraction)
        self.fitted_on, self.tune_qids = fitting_queries(corpus, d.val_fraction, d.tune_fraction)
        self.vocab = Vocab.for_config([*corpus.texts(), *corpus.queries.text], base.vocab)
        self.checkpoints: dict[str, Checkpoint] = {}

    def checkpoint(self, name: str) -> Checkpoint:
        """The warm-up or an arm's checkpoint, trained first where it is missing or stale."""
        if name not in self.checkpoints:
            if name == WARMUP:
                self.checkpoints[name] = self.from_scratch(WARMUP, self.base)
            else:
                self.train_arm(BY_NAME[name])
        return self.checkpoints[name]

    def from_scratch(self, name: str, cfg: Config) -> Checkpoint:
        """`cfg`'s `train` settings trained from scratch with random negatives, as the build's warm-up
        is, into `root/name` (unless up to date)."""
        out = self.root / name
        return train_round(warmup_config(cfg), self.corpus, self.vocab, out, hook=tally_hook(self.progress))[
            0
        ]

    def train_arm(self, arm: Arm) -> float:
        """Train `arm` (from scratch, or a round from its start, mining first for a hard arm); returns
        the seconds it took."""
        t0, cfg = time.time(), resolve(self.base, arm.overrides)
        if arm.start is None:
            self.checkpoints[arm.name] = self.from_scratch(arm.name, cfg)
            return round(time.time() - t0, 1)
        start = self.checkpoint(arm.start)
        mined = self.root / "mined" / f"{arm.name}.json"
        inputs = start.fingerprint
        if arm.negatives == "hard":
            index = mining_index(start, self.corpus)
            mine_key, _ = mine_file(cfg, self.corpus, start, index, mined, progress=self.progress)
            inputs = key_of(inputs, mine_key)
        round_cfg = round_config(cfg, arm.negatives, start.path, mined)
        self.checkpoints[arm.name] = train_round(
            round_cfg, self.corpus, self.vocab, self.root / arm.name, inputs, hook=tally_hook(self.progress)
        )[0]
        return round(time.time() - t0, 1)

    def score(self, arm: Arm) -> dict:
        seconds = self.train_arm(arm)
        ckpt = self.checkpoints[arm.name]
        dense = make(arm.name, Setting(self.root, checkpoints=self.checkpoints))
        weight, _, _ = fit_on_corpus(ckpt.encoder, self.corpus, self.tune_qids)
        log = read_json(ckpt.path.parent / "log.json")
        speeds = [e["triplets_per_s"] for e in log["epochs"] if "triplets_per_s" in e]
        encoding = encoding_rate(ckpt.encoder, self.corpus.texts())
        return {
            "name": arm.name,
            "dense": evaluate_on(dense, self.corpus, self.val_qids),
            "tuning": evaluate_on(dense, self.corpus, self.tune_qids),  # what a recipe is chosen by
            "hybrid": {
                "weight": weight,
                "fitted_on": self.fitted_on,
                **evaluate_on(Hybrid(dense, Lexical(), weight), self.corpus, self.val_qids),
            },
            "training": {
                "seconds": seconds,
                "train_seconds": log["seconds"],
                "triplets_per_s": round(sum(speeds) / max(len(speeds), 1), 1),
                "checkpoint": ckpt.fingerprint,
            },
            "encoding": encoding,
        }


def encoding_rate(encoder, texts: list[str]) -> dict:
    """How fast the checkpoint's encoder encodes these passages (tokenising included): warmed up on 256,
    then timed once over all of them, as the benchmark times a checkpoint."""
    encoder.encode_passages(texts[:256])
    t0 = time.perf_counter()
    encoder.encode_passages(texts)
    seconds = time.perf_counter() - t0
    per_s = round(len(texts) / seconds, 1)
    return {
        "passages": len(texts),
        "seconds": round(seconds, 2),
        "passages_per_s": per_s,
        "workers": encoder.workers,
    }
