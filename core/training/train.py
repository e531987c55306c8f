"""Training loop, flat and in order (nanoGPT's train.py): `setup` (seeds, data, model, loss,
optimiser, schedule), then `fit`: per epoch its triplets in batches, one optimiser `step` each. What
happens beside the steps is a hook that sees each event and the log so far: `record` (each batch in
the log; divergence stops the run), `validation` (each epoch's validation metrics, epoch 0 untrained),
the caller's hooks (the console, the progress file, wandb) and `checkpoint` (model.pt, log.json and
the resolved config.json, with every passage's vector, written to the `.partial` folder and published
as `out_dir`).

Events, in order: "validating" (epoch 0), then per epoch "batch" after each step, "validating",
"epoch"; then "save" (internal) and "done". A caller's hook sees every event but "save"."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.common.artifacts import write_json
from core.common.config import Config, validate
from core.common.outputs import claim, publish_dir
from core.common.types import Hook
from core.data.collate import collate_triplets
from core.data.corpus import Corpus
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint, Encoder
from core.model.losses import active_fraction
from core.model.passages import save_vectors
from core.model.two_tower import joint, save_checkpoint
from core.retrieval.dense import DenseRanker
from core.retrieval.evaluate import IREvaluator
from core.training.session import Run, epoch_batches, setup


@dataclass(frozen=True)
class Judged:
    """A corpus's judged queries measured at each validation (an adaptation's): the epoch kept is the
    one of the best nDCG@10 on `tune` (the start, epoch 0, among them); `report` is only measured."""

    corpus: Corpus
    tune: list[str]
    report: list[str]


MAX_WEIGHT = 1e3  # a trainable weight beyond this: diverged (trained ones stay below 1)
PUBLIC = ("validating", "batch", "epoch", "done")  # the events a caller's hook sees


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


def train(
    cfg: Config,
    corpus: Corpus,
    vocab: Vocab | None,
    out_dir: str | Path,
    extra_meta: dict | None = None,
    hook: Hook | None = None,
    force: bool = False,
    judged: Judged | None = None,
) -> dict:
    """Train a two-tower model into `out_dir` (model.pt, log.json, config.json); returns the log.
    The run is written to a sibling `.partial` folder that replaces `out_dir` only when complete and
    is removed when training fails, so a crash never leaves a half-written checkpoint (a cancelled
    run's folder is removed by `core.runs.launcher`); one writer at a time, and never over a folder that
    is not a run (`core.common.outputs.claim`; `force` replaces an unfinished one). `vocab` is ignored with
    `init_from`. `hook(event, log)` sees the log as it grows (the console, live progress, tracking).
    `judged`: a corpus's judged queries measured at each validation too, the best epoch on its tuning
    ones kept (`keep_best`)."""
    validate(cfg)
    with claim(out_dir, force) as work:
        run = setup(cfg, corpus, vocab)
        caller = hook or (lambda event, log: None)
        fit(
            run,
            record(run),
            lambda event, log: caller(event, log) if event in PUBLIC else None,
            validation(run, judged),
            *([keep_best(run)] if judged else []),
            checkpoint(run, work, Path(out_dir), extra_meta),
        )
        return run.log


def fit(run: Run, *hooks: Hook) -> None:
    """The loop: the untrained model validated, then per epoch its batches, one `step` each; every
    event goes to each of `hooks` in turn."""

    def emit(event: str) -> None:
        for hook in hooks:
            hook(event, run.log)

    emit("validating")
    run.started = time.time()
    for epoch in range(1, run.cfg.train.epochs + 1):
        run.epoch = epoch
        batches, t0 = epoch_batches(run), time.time()
        for batch in batches:
            run.last = step(run, batch)
            emit("batch")
        run.epoch_seconds = time.time() - t0
        emit("validating")
        emit("epoch")
    emit("save")
    emit("done")


def step(run: Run, batch: list[tuple]) -> tuple[float, float]:
    """One optimiser step on `batch`: (its loss, its share of active triplets)."""
    tc, model = run.cfg.train, run.model
    (q, ql), (pn, pnl), invalid = collate_triplets(batch, run.corpus, run.query_ids, run.passage_ids)
    qv, pnv = joint(model.encode_query(q, ql), model.encode_passage(pn, pnl))  # (B, D + U) each
    pv, nv = pnv[: len(q)], pnv[len(q) :]  # the positives, then each query's negatives
    margins = run.teacher.margins(batch) if run.teacher is not None else None
    loss = run.objective(qv, pv, nv, invalid, margins)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.params, tc.clip)
    run.optimizer.step()
    run.scheduler.step()
    return loss.item(), active_fraction(qv, pv, nv, tc.margin)


# --- the hooks beside the loop --------------------------------------------------------------------


def record(run: Run) -> Hook:
    """Each step in the log (epoch, step, loss, active share, learning rate), once it is checked not
    to have diverged; at the end, the training time."""

    def hook(event: str, log: dict) -> None:
        if event == "batch":
            loss, active = run.last
            number = len(log["batches"]) + 1
            check_diverged(loss, run.params, run.epoch, number, run.cfg.train.lr)
            lr = run.scheduler.get_last_lr()[0]
            log["batches"].append(
                {"epoch": run.epoch, "step": number, "loss": loss, "active": active, "lr": lr}
            )
        elif event == "save":
            log["seconds"] = round(time.time() - run.started, 1)

    return hook


def validation(run: Run, judged: Judged | None = None) -> Hook:
    """At each "validating": the model's metrics over every validation query and passage, in the log
    as the epoch's entry beside its training figures (epoch 0: the untrained model alone); with
    `judged`, also its nDCG@10 and MRR@10 over that corpus's tuning and reported judged queries
    (`judged` in the entry)."""
    encoder = Encoder(run.model, run.vocab, run.cfg.data.query_len, run.cfg.data.passage_len)
    evaluator = IREvaluator.from_corpus(run.corpus, run.val_qids)
    on_judged = {"tuning": judged.tune, "reported": judged.report} if judged is not None else {}
    on_judged = {k: IREvaluator.from_corpus(judged.corpus, q) for k, q in on_judged.items()}

    def hook(event: str, log: dict) -> None:
        if event != "validating":
            return
        t0 = time.time()
        run.model.eval()
        ranker = DenseRanker("validation", encoder)
        metrics = evaluator(ranker, modes=("full",))["full"]
        run.passage_vectors = ranker.vectors  # corpus order; the checkpoint stores the last ones
        val = {"val": metrics, "val_seconds": round(time.time() - t0, 2)}
        if on_judged:
            ranker = DenseRanker("judged", encoder)  # its passages encoded once for both slices
            full = {k: e(ranker, modes=("full",))["full"] for k, e in on_judged.items()}
            val["judged"] = {k: {m: f[m] for m in ("queries", "ndcg@10", "mrr@10")} for k, f in full.items()}
        run.model.train()
        if run.epoch == 0:
            log["epochs"].append({"epoch": 0, **val})
            return
        losses, actives = zip(*((b["loss"], b["active"]) for b in log["batches"] if b["epoch"] == run.epoch))
        log["epochs"].append(
            {
                "epoch": run.epoch,
                "loss": float(np.mean(losses)),
                "active": float(np.mean(actives)),
                "triplets": len(run.triplets),
                "seconds": round(run.epoch_seconds, 2),
                "triplets_per_s": round(len(run.triplets) / run.epoch_seconds, 1),
                **val,
            }
        )

    return hook


def keep_best(run: Run) -> Hook:
    """After each validation, the model (and its passages' vectors) of the best nDCG@10 so far on the
    judged tuning queries, the start among them; at "save", that one is what is written, its epoch
    in the log as `kept_epoch`."""
    best: dict = {"score": -1.0}

    def hook(event: str, log: dict) -> None:
        if event == "validating":
            entry = log["epochs"][-1]
            score = entry["judged"]["tuning"]["ndcg@10"]
            if score > best["score"]:
                state = copy.deepcopy(run.model.state_dict())
                best.update(score=score, epoch=entry["epoch"], state=state, vectors=run.passage_vectors)
        elif event == "save":
            run.model.load_state_dict(best["state"])
            run.passage_vectors, log["kept_epoch"] = best["vectors"], best["epoch"]

    return hook


def checkpoint(run: Run, work: Path, out_dir: Path, extra_meta: dict | None) -> Hook:
    """At "save": model.pt (with the data, vocabulary and settings it was trained with, and the final
    validation), every passage's vector (passages.npz, so the app opens the run without encoding),
    log.json and the resolved config.json written to `work`, then published as `out_dir`."""

    def hook(event: str, log: dict) -> None:
        if event != "save":
            return
        dc = run.cfg.data
        meta = {
            "name": out_dir.name,
            "data": {
                "query_len": dc.query_len,
                "passage_len": dc.passage_len,
                "fingerprint": log["data"]["fingerprint"],
                "source": run.corpus.source,
                "val_fraction": dc.val_fraction,
                "tune_fraction": dc.tune_fraction,
            },
            "vocab_fingerprint": run.vocab.fingerprint(),
            "train": run.cfg.to_dict()["train"],
            "val": log["epochs"][log.get("kept_epoch", -1)]["val"],  # of the epoch written
            **(extra_meta or {}),
        }
        run.cfg.save(work / "config.json")
        save_checkpoint(work / "model.pt", run.model.eval(), run.vocab, meta)
        # the last validation encoded every passage with this very model: stored, not encoded again
        save_vectors(
            Checkpoint(out_dir.name, work / "model.pt"), run.passage_vectors, run.corpus.fingerprint()
        )
        write_json(work / "log.json", log)
        publish_dir(work, out_dir)

    return hook
