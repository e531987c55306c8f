"""The build's training rounds, each from settings given explicitly: the pretraining trains `cfg.train`
for one epoch of the corpus's pseudo-queries; the warm-up trains `cfg.train` from scratch (or from
the pretrained checkpoint) with random negatives; the two compared rounds train `cfg.round`,
continuing the warm-up, one with random negatives and one with mined ones. What a round sets itself
(its negatives, the mined file, its start) is an argument here, never a user's setting replaced: a
build's config given one is refused where it is made (`core.pipeline.cli.build_config`, by
`core.common.config.check_stages`). A round is trained unless the key of its inputs still matches
the one its checkpoint stores."""

from __future__ import annotations

import copy
import multiprocessing
import os
import pickle
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path

from core.common.artifacts import CheckpointError, key_of
from core.common.config import Config
from core.common.types import Hook, Tally
from core.data.corpus import Corpus
from core.data.text import TOKENIZER_VERSION
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.training.tracking import tally_hook
from core.training.train import train


def pretrain_config(cfg: Config) -> Config:
    """The pretraining round's config: `cfg.train`'s settings for one epoch over the first
    `cfg.build.pretrain_queries` pseudo-queries, from scratch, random negatives."""
    c = copy.deepcopy(cfg)
    c.train = replace(cfg.train, epochs=1, max_queries=cfg.build.pretrain_queries)
    return c


def warmup_config(cfg: Config, start: str | Path | None = None) -> Config:
    """The warm-up round's config: `cfg.train` as given (random negatives), from scratch or continuing
    the checkpoint `start` (the pretrained one)."""
    c = copy.deepcopy(cfg)
    c.train = replace(cfg.train, init_from=str(start) if start else None)
    return c


def round_config(cfg: Config, negatives: str, start: str | Path, mined: str | Path | None = None) -> Config:
    """A compared round's config: `cfg.round`'s settings continuing the checkpoint `start`, with
    `negatives` "random" or "hard" (read from `mined`). `random_mix` mixes random negatives into
    mined ones, so a round of random negatives has none to mix (0)."""
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
    two), and `progress` is told their steps summed. At the same threads, the weights are the same."""
    opened = {n: Checkpoint(n, out / "model.pt") for n, (_, out, _) in rounds.items()}
    keys = {n: round_key(c, corpus, vocab, inputs) for n, (c, _, inputs) in rounds.items()}
    todo = [n for n in rounds if force or stored_key(opened[n]) != keys[n]]
    for at_once in [todo[i : i + jobs] for i in range(0, len(todo), max(jobs, 1))]:
        if len(at_once) > 1:
            _side_by_side({n: (*rounds[n][:2], keys[n]) for n in at_once}, corpus, vocab, progress)
        else:
            _train(*rounds[at_once[0]][:2], keys[at_once[0]], corpus, vocab, hook or tally_hook(progress))
    return {
        n: (Checkpoint(n, out / "model.pt") if n in todo else opened[n], n in todo)
        for n, (_, out, _) in rounds.items()
    }


def _train(cfg: Config, out: Path, key: str, corpus: Corpus, vocab: Vocab, hook: Hook | None) -> None:
    train(cfg, corpus, vocab, out, extra_meta={"build_key": key}, hook=hook)


def _side_by_side(todo: dict, corpus: Corpus, vocab: Vocab, progress: Tally | None) -> None:
    """Train every round of `todo` (name -> (config, out, key)) at once, each in a spawned process at
    its share of the cores. A round's error is raised here; if this process stops first (an error, a
    Ctrl-C), the others are ended, so no round goes on that nobody waits for."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    share = max(1, (os.cpu_count() or 1) // len(todo))
    procs = {
        name: context.Process(
            target=_train_child,
            args=(_threads(cfg, share), out, key, corpus, vocab, messages, name, os.getpid()),
        )
        for name, (cfg, out, key) in todo.items()
    }
    try:
        for proc in procs.values():
            proc.start()
        _relay(messages, procs, progress)
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.terminate()
            proc.join()


def _threads(cfg: Config, share: int) -> Config:
    """`cfg` with `share` torch threads, unless it sets its own."""
    c = copy.deepcopy(cfg)
    c.train = replace(c.train, threads=c.train.threads or share)
    return c


def _train_child(cfg: Config, out: Path, key: str, corpus, vocab, messages, name: str, parent: int) -> None:
    """One round in a process of its own, telling `messages` ("step", name, (done, in all)) as it goes
    and ("done", name, None) or ("error", name, the exception) at the end; it ends with its parent
    (a killed build), never publishing a round nobody waits for."""
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()

    def hook(event: str, log: dict) -> None:
        if event == "batch":
            messages.put(("step", name, (len(log["batches"]), log["steps"])))

    try:
        _train(cfg, out, key, corpus, vocab, hook)
        messages.put(("done", name, None))
    except BaseException as e:  # the parent raises it; a Ctrl-C reaches both
        messages.put(("error", name, e if _picklable(e) else RuntimeError(f"{type(e).__name__}: {e}")))


def _picklable(e: BaseException) -> bool:
    try:
        pickle.dumps(e)
        return True
    except Exception:
        return False


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


def _relay(messages, procs: dict, progress: Tally | None) -> None:
    """Until every round has ended, tell `progress` the steps of all rounds summed (once each has
    reported, so that the total never changes under the bar); a round's error is raised, and so is a
    round's process that ended without a word (killed)."""
    counts: dict[str, tuple[int, int]] = {}
    ended: set[str] = set()
    while len(ended) < len(procs):
        try:
            kind, name, value = messages.get(timeout=1)
        except queue.Empty:
            gone = [n for n, p in procs.items() if n not in ended and p.exitcode is not None]
            if gone:
                code = procs[gone[0]].exitcode
                raise RuntimeError(f"the {gone[0]} round's process ended (exit code {code})") from None
            continue
        if kind == "error":
            raise value
        if kind == "done":
            ended.add(name)
        else:
            counts[name] = value
            if progress and len(counts) == len(procs):
                progress(sum(d for d, _ in counts.values()), sum(t for _, t in counts.values()))
