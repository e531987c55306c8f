"""The build's training rounds, each from settings given explicitly: the warm-up trains `cfg.train`
from scratch with random negatives; the two compared rounds train `cfg.round`, continuing the
warm-up, one with random negatives and one with mined ones. What a round sets itself (its negatives,
the mined file, its start) is an argument here, never a user's setting replaced: a build given one
is refused (`core.common.config.check_stages`). A round is trained unless the key of its inputs
still matches the one its checkpoint stores."""

from __future__ import annotations

import copy
import multiprocessing
import os
import queue
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from core.common.artifacts import CheckpointError, key_of
from core.common.config import Config, check_stages
from core.common.types import Hook, Tally
from core.data.msmarco import Corpus
from core.data.text import TOKENIZER_VERSION
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.training.tracking import tally_hook
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
    return train_rounds({out.name: (cfg, out, inputs_key)}, corpus, vocab, force, hook=hook)[out.name]


def train_rounds(
    rounds: dict[str, tuple[Config, Path, str]],
    corpus: Corpus,
    vocab: Vocab,
    force: bool = False,
    jobs: int = 1,
    hook: Hook | None = None,
    progress: Tally | None = None,
) -> dict[str, tuple[Checkpoint, bool]]:
    """`train_round` for each of `rounds` (name -> (config, out folder, inputs key)): those not up to
    date are trained one after another (`hook` sees each), or with `jobs` > 1 that many at a time, each
    in a process of its own. There a round whose config leaves the threads to torch (0) takes its share
    of the cores (on 2 cores, two rounds at one thread each do more work per second than one round at
    two), and `progress` is told their steps summed. A round's weights depend on its config only."""
    opened = {n: Checkpoint(n, out / "model.pt") for n, (_, out, _) in rounds.items()}
    keys = {n: round_key(c, corpus, vocab, inputs) for n, (c, _, inputs) in rounds.items()}
    todo = [n for n in rounds if force or stored_key(opened[n]) != keys[n]]
    if jobs > 1 and len(todo) > 1:
        _side_by_side({n: (*rounds[n][:2], keys[n]) for n in todo}, corpus, vocab, jobs, progress)
    else:
        for n in todo:
            _train(*rounds[n][:2], keys[n], corpus, vocab, hook or tally_hook(progress))
    return {
        n: (Checkpoint(n, out / "model.pt") if n in todo else opened[n], n in todo)
        for n, (_, out, _) in rounds.items()
    }


def _train(cfg: Config, out: Path, key: str, corpus: Corpus, vocab: Vocab, hook: Hook | None) -> None:
    train(cfg, corpus, vocab, out, extra_meta={"build_key": key}, hook=hook)


def _side_by_side(todo: dict, corpus: Corpus, vocab: Vocab, jobs: int, progress: Tally | None) -> None:
    """Train `todo` (name -> (config, out, key)) `jobs` at a time in spawned processes."""
    share = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(jobs, mp_context=context) as pool:
        steps = manager.Queue()
        futures = [
            pool.submit(_train_child, _threads(cfg, share), out, key, corpus, vocab, steps, i, os.getpid())
            for i, (cfg, out, key) in enumerate(todo.values())
        ]
        _relay(steps, futures, progress)
        for f in futures:
            f.result()  # a round's error, raised here


def _threads(cfg: Config, share: int) -> Config:
    """`cfg` with `share` torch threads, unless it sets its own."""
    c = copy.deepcopy(cfg)
    c.train = replace(c.train, threads=c.train.threads or share)
    return c


def _train_child(
    cfg: Config, out: Path, key: str, corpus: Corpus, vocab: Vocab, steps, index: int, parent: int
):
    """One round in a process of its own, telling `steps` (index, steps done, steps in all); it ends
    with its parent (a killed build), never publishing a round nobody waits for."""
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()

    def hook(event: str, log: dict) -> None:
        if event == "batch":
            steps.put((index, len(log["batches"]), log["steps"]))

    _train(cfg, out, key, corpus, vocab, hook)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _relay(steps, futures: list, progress: Tally | None) -> None:
    """Until every round is done, tell `progress` the steps of all rounds summed (once each has
    reported, so that the total never changes under the bar)."""
    counts: dict[int, tuple[int, int]] = {}
    while not all(f.done() for f in futures):
        try:
            index, done, total = steps.get(timeout=0.5)
        except queue.Empty:
            continue
        counts[index] = (done, total)
        if progress and len(counts) == len(futures):
            progress(sum(d for d, _ in counts.values()), sum(t for _, t in counts.values()))
