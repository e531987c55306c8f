"""The pipeline's driver: one config over one corpus (`Pipeline`), which the build's stages
(`core.pipeline.build`) and the experiments' arms (`core.pipeline.experiments`) both run on. It holds
the corpus's splits and its vocabulary, made once; the rounds it can train, by name (`Round`: from
scratch, pretraining on the corpus's pseudo-queries, or continuing another round with random or mined
negatives); the checkpoints trained so far,
each trained only where missing or stale (by `core.training.rounds`' keys), its start first and, for
hard negatives, the mining with that start; and the evaluation of a ranker on the validation or
tuning queries, with a checkpoint's fusion weight fitted on the tuning ones."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from core.common.artifacts import key_of
from core.common.config import Config
from core.common.types import Tally
from core.data.corpus import Corpus, split_queries
from core.data.pseudo import pseudo_queries
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.retrieval.bm25 import BM25
from core.retrieval.evaluate import IREvaluator
from core.retrieval.hybrid import fit_on_corpus, fitting_queries
from core.retrieval.ranker import Ranker
from core.retrieval.registry import RankerContext, make
from core.training.adapt import training_corpus
from core.training.mining import mine_file, mining_index
from core.training.rounds import pretrain_config, round_config, train_rounds, warmup_config


def resolve(base: Config, overrides: dict) -> Config:
    """A copy of `base` with `overrides` ("section.field": value) set; an unknown name is a
    `ValueError` naming it."""
    cfg = copy.deepcopy(base)
    for dotted, value in overrides.items():
        try:
            cfg.set(dotted, value)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return cfg


@dataclass(frozen=True)
class Round:
    """A checkpoint to train: `cfg`'s `train` settings with random negatives (`start` None, or
    `settings` "train": the warm-up, from scratch or continuing round `start`), or its `round`
    settings continuing round `start` with `negatives` "random" or "hard" (mined with `start` into the
    file `mined`); `settings` "pretrain": the pretraining, on the corpus's pseudo-queries."""

    cfg: Config
    start: str | None = None
    negatives: str = "random"
    mined: Path | None = None
    settings: str = "round"  # "pretrain", "train" or "round"


class Pipeline:
    """One config over one corpus: its splits, its vocabulary (made when first needed), the rounds it
    can train by name, each into `root/NAME/`, the checkpoints trained so far and the keys of the
    files mined so far; `force` trains and mines again what is up to date."""

    def __init__(
        self,
        cfg: Config,
        corpus: Corpus,
        root: Path,
        rounds: dict[str, Round],
        force: bool = False,
        progress: Tally | None = None,
    ):
        self.cfg, self.corpus, self.root, self.rounds = cfg, corpus, Path(root), rounds
        self.force, self.progress = force, progress
        d = cfg.data
        self.train_qids, self.val_qids = split_queries(corpus, d.val_fraction, d.tune_fraction)
        self.fitted_on, self.tune_qids = fitting_queries(corpus, d.val_fraction, d.tune_fraction)
        self.checkpoints: dict[str, Checkpoint] = {}  # each opened once, after its training
        self.mined: dict[Path, str] = {}  # each mined file's key, once mined or found up to date
        self.evaluators: dict[str, IREvaluator] = {}  # by split

    @cached_property
    def vocab(self) -> Vocab:
        """The corpus's words plus the most frequent GloVe words; its fingerprint (with the
        tokeniser's version) keys every round."""
        return Vocab.for_config([*self.corpus.texts(), *self.corpus.queries.text], self.cfg.vocab)

    @cached_property
    def bm25(self) -> BM25:
        return BM25().fit(self.corpus.texts(), list(self.corpus.passages.pid))

    def checkpoint(self, name: str) -> Checkpoint:
        """Round `name`'s checkpoint, trained first where missing or stale."""
        if name not in self.checkpoints:
            self.train([name])
        return self.checkpoints[name]

    @cached_property
    def pseudo(self) -> Corpus:
        """The corpus's pseudo-queries (`core.data.pseudo`, `train`'s seed) as a corpus to train on."""
        seed = self.cfg.train.seed
        return training_corpus(self.corpus, pseudo_queries(self.corpus, seed), seed)

    def train(self, names: list[str], jobs: int = 1) -> dict[str, bool]:
        """Train the rounds `names` where missing or stale, `jobs` at a time (their starts first, and
        the mining for hard negatives), and open them; whether each was trained now."""
        todo = {n: self.training(n) for n in names}
        trained = {}
        for pseudo in (True, False):
            some = {n: t for n, t in todo.items() if (self.rounds[n].settings == "pretrain") == pseudo}
            corpus = self.pseudo if pseudo else self.corpus
            if some:
                trained |= train_rounds(some, corpus, self.vocab, self.force, jobs, progress=self.progress)
        self.checkpoints.update({n: c for n, (c, _) in trained.items()})
        return {n: fresh for n, (_, fresh) in trained.items()}

    def training(self, name: str) -> tuple[Config, Path, str]:
        """Round `name`'s training: its config, its folder and the key of its inputs (none from
        scratch; else its start's fingerprint, with hard negatives also the mined file's key)."""
        r, out = self.rounds[name], self.root / name
        if r.settings == "pretrain":
            return pretrain_config(r.cfg), out, ""
        if r.start is None:
            return warmup_config(r.cfg), out, ""
        start = self.checkpoint(r.start)
        if r.settings == "train":
            return warmup_config(r.cfg, start.path), out, start.fingerprint
        inputs = key_of(start.fingerprint, self.mine(name)[0]) if r.negatives == "hard" else start.fingerprint
        return round_config(r.cfg, r.negatives, start.path, r.mined), out, inputs

    def mine(self, name: str) -> tuple[str, bool]:
        """Hard negatives for round `name`, mined with its start into its `mined` file (its config's
        `build` settings) unless up to date or mined already here: (the file's key, whether it was
        mined now)."""
        r = self.rounds[name]
        if r.mined in self.mined:
            return self.mined[r.mined], False
        start = self.checkpoint(r.start)
        index = mining_index(start, self.corpus)
        key, fresh = mine_file(r.cfg, self.corpus, start, index, r.mined, self.force, self.progress)
        self.mined[r.mined] = key
        return key, fresh

    def ranker(self, name: str) -> Ranker:
        """The ranker called `name` (`registry.make`: a registry name, a checkpoint, `hybrid:NAME`),
        from the checkpoints open here."""
        return make(name, RankerContext(self.root, self.cfg.vocab.glove, checkpoints=self.checkpoints))

    def evaluate(self, ranker: Ranker, split: str = "validation") -> dict:
        """`ranker`'s metrics in every mode on the "validation" or "tuning" queries (one evaluator
        per split, so BM25's hard candidates are found once)."""
        if split not in self.evaluators:
            qids = {"validation": self.val_qids, "tuning": self.tune_qids}[split]
            self.evaluators[split] = IREvaluator.from_corpus(self.corpus, qids)
        return self.evaluators[split](ranker)

    def fit_weight(self, name: str, vectors=None) -> tuple[float, dict, int]:
        """Checkpoint `name`'s fusion weight with BM25, fitted on the tuning queries (its passages'
        `vectors` encoded when not given): (weight, MRR@10 by weight, queries used)."""
        encoder = self.checkpoints[name].encoder
        return fit_on_corpus(encoder, self.corpus, self.tune_qids, passage_vectors=vectors, bm25=self.bm25)
