"""A training run's state and how it is made: `setup` (seeds, the split, the model, new or
`init_from`'s, its loss, optimiser and schedule, the log) returns a `Run`, which the loop in
`core.training.train` advances; `epoch_batches`, each epoch's triplets in batches."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch

from core.common.artifacts import artifacts_dir
from core.common.config import Config, TrainConfig
from core.data.collate import length_batches
from core.data.corpus import Corpus, split_queries, tune_queries
from core.data.triplets import hard_triplets, load_mined, negative_pool, random_triplets
from core.data.vocab import Vocab
from core.model.losses import Objective
from core.model.two_tower import TwoTower, load_checkpoint
from core.training.teacher import Teacher, load_teacher


def optimizer_for(model: TwoTower, tc: TrainConfig) -> torch.optim.Optimizer:
    """Adam; trainable word vectors learn at their own (lower) rate `embed_lr`."""
    embedding = [p for p in model.embedding.parameters() if p.requires_grad]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("embedding.")]
    groups = [{"params": rest, "lr": tc.lr}] + (
        [{"params": embedding, "lr": tc.embed_lr}] if embedding else []
    )
    return torch.optim.Adam(groups, weight_decay=tc.weight_decay)


def lr_lambda(schedule: str, warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return f


@dataclass
class Run:
    """Everything one training run reads and changes, as `setup` makes it."""

    cfg: Config
    corpus: Corpus
    vocab: Vocab
    model: TwoTower
    objective: Objective
    teacher: Teacher | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    train_qids: list[str]
    val_qids: list[str]
    pool: np.ndarray
    mined: dict
    query_ids: dict
    passage_ids: dict
    rng: np.random.Generator
    log: dict = field(default_factory=dict)
    epoch: int = 0
    triplets: list = field(default_factory=list)
    last: tuple[float, float] = (0.0, 0.0)  # the last step's (loss, active fraction)
    started: float = 0.0  # when training started (after the untrained validation)
    epoch_seconds: float = 0.0  # the last epoch's steps took
    passage_vectors: np.ndarray | None = None  # every passage's vector at the last validation

    @property
    def params(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad]


def trained_queries(cfg: Config, corpus: Corpus) -> list[str]:
    """The queries a run of `cfg` trains on: the corpus's training split, the first `max_queries`."""
    train = split_queries(corpus, cfg.data.val_fraction, cfg.data.tune_fraction)[0]
    return train[: cfg.train.max_queries] if cfg.train.max_queries else train


def training_pool(cfg: Config, corpus: Corpus) -> np.ndarray:
    """The passages a run of `cfg` may use as negatives: all but its validation and tuning positives."""
    d = cfg.data
    held = split_queries(corpus, d.val_fraction, d.tune_fraction)[1] + tune_queries(
        corpus, d.val_fraction, d.tune_fraction
    )
    return negative_pool(corpus, held)


def setup(cfg: Config, corpus: Corpus, vocab: Vocab | None) -> Run:
    """Seeds, the split, the model (new, or `init_from`'s), loss, optimiser and schedule; the log."""
    tc, dc = cfg.train, cfg.data
    if tc.threads:
        torch.set_num_threads(tc.threads)
    random.seed(tc.seed), np.random.seed(tc.seed), torch.manual_seed(tc.seed)
    train_qids = trained_queries(cfg, corpus)
    val_qids = split_queries(corpus, dc.val_fraction, dc.tune_fraction)[1]
    pool = training_pool(cfg, corpus)
    mined = load_mined(tc.hard_file)[0] if tc.negatives == "hard" else {}
    if tc.init_from:
        model, vocab, _ = load_checkpoint(tc.init_from)
        model.train()
        model.embedding.weight.requires_grad = not model.cfg.freeze_embeddings
    passage_ids = {p: vocab.encode(t, dc.passage_len) for p, t in zip(corpus.passages.pid, corpus.texts())}
    if not tc.init_from:
        model = TwoTower.from_vocab(cfg.model, vocab, idf=vocab.idf(list(passage_ids.values())))
    cfg.model = model.cfg
    teacher = None
    if tc.distill:
        teacher = load_teacher(corpus, tc.teacher_file or artifacts_dir() / "teacher" / "minilm.npz")
    optimizer = optimizer_for(model, tc)
    steps_per_epoch = math.ceil(sum(len(corpus.positives[q]) for q in train_qids) / tc.batch_size)
    schedule = lr_lambda(tc.schedule, tc.warmup_steps, steps_per_epoch * tc.epochs)
    query_text = dict(zip(corpus.queries.query_id, corpus.queries.text))
    run = Run(
        cfg, corpus, vocab, model, Objective(tc), teacher, optimizer,
        torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), train_qids, val_qids, pool, mined,
        {q: vocab.encode(query_text[q], dc.query_len) for q in train_qids}, passage_ids,
        np.random.default_rng(tc.seed),
    )  # fmt: skip
    run.log = {
        "config": cfg.to_dict(),
        "data": {
            "source": corpus.source,
            "fingerprint": corpus.fingerprint(),
            "train_queries": len(train_qids),
            "val_queries": len(val_qids),
        },
        "steps": steps_per_epoch * tc.epochs,
        "batches": [],
        "epochs": [],
    }
    return run


def epoch_batches(run: Run) -> list[list[tuple]]:
    """This epoch's triplets (random or mined negatives), in batches of similar passage lengths or
    shuffled."""
    tc, rng = run.cfg.train, run.rng
    k = tc.negatives_per_query
    if tc.negatives == "hard":
        run.triplets = hard_triplets(run.corpus, run.train_qids, run.mined, run.pool, rng, tc.random_mix, k)
    else:
        run.triplets = random_triplets(run.corpus, run.train_qids, run.pool, rng, k)
    if tc.length_batches:
        longest = lambda t: max(len(run.passage_ids[p]) for p in t[1:])  # noqa: E731
        return length_batches(run.triplets, longest, tc.batch_size, rng)
    rng.shuffle(run.triplets)
    return [run.triplets[i : i + tc.batch_size] for i in range(0, len(run.triplets), tc.batch_size)]
