"""Training loop, flat and in order: data -> model -> per epoch (triplets, batches, validation)
-> checkpoint, log and resolved config written next to each other in `out_dir`."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from core.common.artifacts import artifacts_dir, write_json
from core.common.config import Config, TrainConfig, validate
from core.common.outputs import claim, publish_dir
from core.common.types import Hook
from core.data.collate import collate_triplets, length_batches
from core.data.msmarco import Corpus, split_queries, tune_queries
from core.data.triplets import hard_triplets, load_mined, negative_pool, random_triplets
from core.data.vocab import Vocab
from core.model.encoder import Encoder
from core.model.losses import MarginMSELoss, active_fraction, make_loss
from core.model.two_tower import TwoTower, load_checkpoint, save_checkpoint
from core.retrieval.dense import Engine
from core.retrieval.evaluate import IREvaluator
from core.training.teacher import load_teacher

MAX_WEIGHT = 1e3  # a trainable weight beyond this: diverged (trained ones stay below 1)


class DivergedError(RuntimeError):
    """Training blew up (a non-finite loss, or exploding weights); the message says what to change."""


def check_diverged(loss: float, params: list[torch.Tensor], epoch: int, step: int, lr: float) -> None:
    """Raise `DivergedError` when the batch loss or a weight is not finite, or a weight exceeds MAX_WEIGHT."""
    largest = float(torch.stack([p.detach().abs().max() for p in params]).max())
    if not (math.isfinite(loss) and math.isfinite(largest) and largest <= MAX_WEIGHT):
        raise DivergedError(
            f"training diverged at epoch {epoch}, step {step} (batch loss {loss:.4g}, "
            f"largest weight {largest:.3g}); no checkpoint was saved. "
            f"Train again with a lower --lr (it was {lr:g})"
        )


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


def train(
    cfg: Config,
    corpus: Corpus,
    vocab: Vocab | None,
    out_dir: str | Path,
    progress: bool = True,
    extra_meta: dict | None = None,
    hook: Hook | None = None,
    force: bool = False,
) -> dict:
    """Train a two-tower model into `out_dir` (model.pt, log.json, config.json); returns the log.
    The run is written to a sibling `.partial` folder that replaces `out_dir` only when complete and
    is removed when training fails, so a crash never leaves a half-written checkpoint (a cancelled
    run's folder is removed by `core.runs.launcher`); one writer at a time, and never over a folder that
    is not a run (`core.common.outputs.claim`; `force` replaces an unfinished one). `vocab` is ignored with
    `init_from`. `hook(event, log)` sees the log as it grows (live progress, experiment tracking)."""
    validate(cfg)
    with claim(out_dir, force) as work:
        return _train_into(work, cfg, corpus, vocab, Path(out_dir), progress, extra_meta, hook)


def _train_into(
    work: Path,
    cfg: Config,
    corpus: Corpus,
    vocab: Vocab | None,
    out_dir: Path,
    progress: bool,
    extra_meta: dict | None,
    hook: Hook | None,
) -> dict:
    """`train`'s loop, writing into the fresh folder `work` and publishing it as `out_dir` at the end."""
    tc, dc = cfg.train, cfg.data
    hook = hook or (lambda event, log: None)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    random.seed(tc.seed), np.random.seed(tc.seed), torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)

    # data
    train_qids, val_qids = split_queries(corpus, dc.val_fraction, dc.tune_fraction)
    if tc.max_queries:
        train_qids = train_qids[: tc.max_queries]
    pool = negative_pool(corpus, val_qids + tune_queries(corpus, dc.val_fraction, dc.tune_fraction))
    mined = load_mined(tc.hard_file)[0] if tc.negatives == "hard" else {}

    # model
    if tc.init_from:
        model, vocab, _ = load_checkpoint(tc.init_from)
        model.train()
        cfg.model = model.cfg
        model.embedding.weight.requires_grad = not cfg.model.freeze_embeddings
    passage_ids = {
        p: vocab.encode(t, dc.passage_len) for p, t in zip(corpus.passages.pid, corpus.passages.text)
    }
    if not tc.init_from:
        model = TwoTower.from_vocab(cfg.model, vocab, idf=vocab.idf(list(passage_ids.values())))
        cfg.model = model.cfg
    loss_fn = make_loss(tc.loss, tc.margin, tc.temperature)
    teacher = (
        load_teacher(corpus, tc.teacher_file or artifacts_dir() / "teacher" / "minilm.npz")
        if tc.distill
        else None
    )
    distill = MarginMSELoss(tc.temperature)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer_for(model, tc)
    steps_per_epoch = math.ceil(sum(len(corpus.positives[q]) for q in train_qids) / tc.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(tc.schedule, tc.warmup_steps, steps_per_epoch * tc.epochs)
    )

    # token ids, computed once
    query_text = dict(zip(corpus.queries.query_id, corpus.queries.text))
    query_ids = {q: vocab.encode(query_text[q], dc.query_len) for q in train_qids}
    encoder = Encoder(model, vocab, dc.query_len, dc.passage_len)
    evaluator = IREvaluator.from_corpus(corpus, val_qids)

    def validate() -> dict:
        hook("validating", log)
        t0 = time.time()
        model.eval()
        metrics = evaluator(Engine("validation", encoder), modes=("full",))["full"]
        model.train()
        return {"val": metrics, "val_seconds": round(time.time() - t0, 2)}

    log = {
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
    log["epochs"].append({"epoch": 0, **validate()})
    cfg.save(work / "config.json")
    started = time.time()
    model.train()
    for epoch in range(1, tc.epochs + 1):
        k = tc.negatives_per_query
        if tc.negatives == "hard":
            triplets = hard_triplets(corpus, train_qids, mined, pool, rng, tc.random_mix, k)
        else:
            triplets = random_triplets(corpus, train_qids, pool, rng, k)
        if tc.length_batches:
            batches = length_batches(
                triplets, lambda t: max(len(passage_ids[p]) for p in t[1:]), tc.batch_size, rng
            )
        else:
            rng.shuffle(triplets)
            batches = [triplets[i : i + tc.batch_size] for i in range(0, len(triplets), tc.batch_size)]
        t0, losses, actives = time.time(), [], []
        bar = tqdm(batches, desc=f"epoch {epoch}/{tc.epochs}", disable=not progress)
        for batch in bar:
            (q, ql), (pn, pnl), invalid = collate_triplets(batch, corpus, query_ids, passage_ids)
            qv, pnv = model.encode_query(q, ql), model.encode_passage(pn, pnl)
            pv, nv = pnv[: len(q)], pnv[len(q) :]
            loss = loss_fn.compute_loss_from_embeddings(qv, pv, nv, invalid)
            if teacher is not None:
                loss = loss + tc.distill * distill.compute_loss_from_embeddings(
                    qv, pv, nv, teacher.margins(batch)
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, tc.clip)
            optimizer.step()
            scheduler.step()
            check_diverged(loss.item(), params, epoch, len(log["batches"]) + 1, tc.lr)
            losses.append(loss.item())
            actives.append(active_fraction(qv, pv, nv, tc.margin))
            log["batches"].append(
                {
                    "epoch": epoch,
                    "step": len(log["batches"]) + 1,
                    "loss": losses[-1],
                    "active": actives[-1],
                    "lr": scheduler.get_last_lr()[0],
                }
            )
            hook("batch", log)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", active=f"{np.mean(actives[-20:]):.2f}")
        seconds = time.time() - t0
        log["epochs"].append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "active": float(np.mean(actives)),
                "triplets": len(triplets),
                "seconds": round(seconds, 2),
                "triplets_per_s": round(len(triplets) / seconds, 1),
                **validate(),
            }
        )
        hook("epoch", log)
        if progress:
            tqdm.write(
                f"epoch {epoch}: loss {np.mean(losses):.4f}  active {np.mean(actives):.3f}  "
                f"{len(triplets) / seconds:.0f} triplets/s  val MRR@10 {log['epochs'][-1]['val']['mrr@10']}"
            )
    log["seconds"] = round(time.time() - started, 1)
    meta = {
        "name": out_dir.name,
        "data": {
            "query_len": dc.query_len,
            "passage_len": dc.passage_len,
            "fingerprint": log["data"]["fingerprint"],
            "source": corpus.source,
            "val_fraction": dc.val_fraction,
            "tune_fraction": dc.tune_fraction,
        },
        "vocab_fingerprint": vocab.fingerprint(),
        "train": cfg.to_dict()["train"],
        "val": log["epochs"][-1]["val"],
        **(extra_meta or {}),
    }
    save_checkpoint(work / "model.pt", model.eval(), vocab, meta)
    write_json(work / "log.json", log)
    publish_dir(work, out_dir)
    hook("done", log)
    return log
