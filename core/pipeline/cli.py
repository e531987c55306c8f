"""Command line: `python -m core {train,mine,eval,build,bench} --help`.

Every field of the config dataclasses is a flag (`--epochs 3`, `--no-bidirectional`), so the
CLI, the build pipeline and the app's launcher all speak the same `Config`.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import time
from pathlib import Path

from core.common.artifacts import CheckpointError, runs_dir
from core.common.config import Config, ConfigError, DataConfig, check_stages, validate
from core.common.outputs import OutputError, check_free, hold, recover_all, replace_problem
from core.data.corpora import load_corpus
from core.data.corpus import DataSourceError, split_queries, tune_queries
from core.pipeline import corpus_cli
from core.pipeline.checks import check_extras, check_flags, check_outputs, derived_problem, scale_sizes
from core.pipeline.flags import SUBCOMMANDS, add_config_flags, config_from_args
from core.retrieval.vectors import SearchIndexError
from core.training.train import DivergedError

BUILD_LOCK = (
    ".build.lock"  # held by a build of an artifacts folder; `train` into one of its folders is refused
)


def cmd_train(args) -> int:
    from core.data.vocab import Vocab
    from core.training.tracking import combine, console, progress_file, wandb_hook
    from core.training.train import train

    check_outputs({"--progress-file": (args.progress_file, "progress")})
    cfg = validate(config_from_args(args))
    check_extras(cfg)
    problem = replace_problem(Path(args.out), args.force)  # checked again, under its lock, by train
    if problem:
        raise OutputError(problem)
    parent = Path(args.out).resolve().parent  # a build there writes its runs' folders: not meanwhile
    check_free(parent / BUILD_LOCK, f"--out {args.out}: the build of {parent}")
    corpus = load_corpus(cfg.data.source)
    vocab = (
        None if cfg.train.init_from else Vocab.for_config([*corpus.texts(), *corpus.queries.text], cfg.vocab)
    )
    derived = vocab and derived_problem(args.config, len(vocab), vocab.dim)
    if derived:
        raise ConfigError(derived)
    hook = combine(
        console(),
        progress_file(args.progress_file) if args.progress_file else None,
        wandb_hook(cfg, Path(args.out).name),
    )
    log = train(cfg, corpus, vocab, args.out, hook=hook, force=args.force)
    print(
        json.dumps(
            {"checkpoint": str(Path(args.out) / "model.pt"), "val": log["epochs"][-1]["val"]}, indent=2
        )
    )
    return 0


def cmd_mine(args) -> int:
    from core.data.triplets import load_mined
    from core.model.encoder import Checkpoint
    from core.training.mining import mine_file, mining_index, mining_stats
    from core.training.tracking import tqdm_tally

    check_outputs({"--out": (args.out, "mined")})
    cfg = validate(config_from_args(args))
    checkpoint, out = Checkpoint(Path(args.checkpoint).parent.name, args.checkpoint), Path(args.out)
    corpus = load_corpus(cfg.data.source)
    index = mining_index(checkpoint, corpus)
    _, fresh = mine_file(cfg, corpus, checkpoint, index, out, force=args.force, progress=tqdm_tally("mine"))
    print(
        json.dumps(
            {
                "mined": str(out),
                "status": "mined" if fresh else "up to date",
                **mining_stats(load_mined(out)[0]),
            },
            indent=2,
        )
    )
    return 0


def cmd_eval(args) -> int:
    from core.common.artifacts import artifacts_dir
    from core.retrieval.evaluate import IREvaluator
    from core.retrieval.metrics import FULL_METRICS, RERANK_METRICS
    from core.retrieval.registry import RankerContext, checkpoint_for, make

    check_flags({"data.val_fraction": args.val_fraction})
    if args.corpus:
        return corpus_cli.eval_corpus(args)
    if not args.checkpoint:
        raise ValueError("eval needs --checkpoint NAME (or --corpus NAME for every ranker on a corpus)")
    artifacts = Path(args.artifacts or artifacts_dir())
    checkpoint = checkpoint_for(args.checkpoint, artifacts)
    opened = {checkpoint.name: checkpoint} if checkpoint else {}
    ranker = make(args.checkpoint, RankerContext(artifacts, args.glove, not args.json, opened))
    corpus = load_corpus(args.data)
    qids = None
    if args.split != "all":
        trained_on = checkpoint.val_fraction if checkpoint else DataConfig.val_fraction
        fraction = args.val_fraction or trained_on
        tune = checkpoint.tune_fraction if checkpoint else DataConfig.tune_fraction
        train, val = split_queries(corpus, fraction, tune)
        qids = {"train": train, "val": val, "tune": tune_queries(corpus, fraction, tune)}[args.split]
    evaluator = IREvaluator.from_corpus(corpus, qids)
    if not evaluator.qids:
        raise DataSourceError(
            f"{corpus.source}: no query to score (--split {args.split}); eval needs queries "
            "with a passage judged relevant (is_selected 1): use such a file, or another --split"
        )
    t0 = time.time()
    metrics = evaluator(ranker)
    out = {
        "full": {k: metrics["full"][k] for k in ("queries", "corpus", *FULL_METRICS)},
        "bm25_hard": {k: metrics["bm25_hard"][k] for k in ("queries", *RERANK_METRICS)},
        "rerank": {k: metrics["rerank"][k] for k in ("queries", *RERANK_METRICS)},
    }
    if args.json:
        print(json.dumps(out))
    else:
        for mode, m in out.items():
            print(f"{mode:9s} " + "  ".join(f"{k} {v}" for k, v in m.items()))
        print(f"({time.time() - t0:.1f}s)")
    return 0


def build_config(args) -> Config:
    """The config of a build (or of the experiments, builds with overrides) from its flags, checked
    here, once: valid settings, and none that a round sets itself (`check_stages`)."""
    return validate(check_stages(config_from_args(args)))


def cmd_experiments(args) -> int:
    from core.common.artifacts import artifacts_dir
    from core.pipeline import experiments
    from core.training.tracking import tqdm_tally

    docs = Path(args.docs)
    if docs.exists() and not docs.is_dir():
        raise OutputError(f"--docs {docs} is not a folder: give the folder experiments.md is written to")
    check_outputs({"--docs": (docs / "experiments.md", "experiments")})
    if args.adaptation:  # the checkpoints `adapt` wrote, on their corpora's judged queries
        from core.pipeline import adaptation

        results = adaptation.run(Path(args.artifacts or artifacts_dir()), docs)
        print("\n".join(adaptation.markdown(results)))
        return 0
    cfg = build_config(args)
    corpus = load_corpus(cfg.data.source)
    artifacts = Path(args.artifacts or artifacts_dir())
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    results = experiments.run(cfg, corpus, artifacts, only=only, force=args.force, progress=tqdm_tally())
    experiments.write_report(results, corpus, Path(args.docs))
    print(experiments.markdown(results, corpus))
    return 0


def cmd_build(args) -> int:
    from core.common.artifacts import artifacts_dir
    from core.pipeline.build import build, summary_table
    from core.training.tracking import tqdm_tally

    check_flags({"build.jobs": args.jobs})
    cfg = build_config(args)
    check_extras(cfg)
    out = Path(args.artifacts or artifacts_dir())
    with hold(out / BUILD_LOCK, f"the build of {out}"):
        recover_all(out)  # what a killed build left: its folders' .partial and locks
        recover_all(runs_dir(out))
        results = build(cfg, out, force=args.force, progress=tqdm_tally(), jobs=args.jobs)
    print(summary_table(results))
    return 0


def cmd_bench(args) -> int:
    from core.common.artifacts import artifacts_dir, find_checkpoints
    from core.pipeline import bench, bench_report

    check_flags({"bench.queries": args.queries, "bench.minilm": args.minilm})
    artifacts = Path(args.artifacts or artifacts_dir())
    doc = bench_report.report_path(artifacts, args.report)
    check_outputs({"--report": (doc, "benchmark")})
    if args.scale is not None:
        from core.pipeline import scale

        print("\n".join(scale.measured(scale_sizes(args.scale), artifacts, doc)))
        return 0
    report = bench.run(
        load_corpus(args.data), artifacts, find_checkpoints(artifacts), args.queries, args.minilm
    )
    report["command"] = f"python -m core bench --queries {args.queries} --minilm {args.minilm}"
    text = bench_report.markdown(report)
    bench_report.write_reports(report, artifacts, doc, text)
    print(text)
    return 0


COMMANDS = {  # subcommand -> what it runs (its flags: core.pipeline.flags.SUBCOMMANDS)
    "train": cmd_train,
    "mine": cmd_mine,
    "build": cmd_build,
    "experiments": cmd_experiments,
    "bench": cmd_bench,
    "eval": cmd_eval,
    "corpus": lambda args: corpus_cli.ACTIONS[args.action](args),
    "pseudo": corpus_cli.pseudo,
    "adapt": corpus_cli.adapt,
}


def build_parser() -> argparse.ArgumentParser:
    """Each subcommand with its own flags (core.pipeline.flags), then every Config field as a flag of
    those that take settings, and the command it runs (`args.func`)."""
    parser = argparse.ArgumentParser(
        prog="python -m core", description="Two-tower neural search over MS MARCO."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, own_flags, takes_settings) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        own_flags(p)
        if takes_settings:
            add_config_flags(p)
        p.set_defaults(func=COMMANDS[name])
    return parser


WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
MESSAGE = 2000  # characters of an error the CLI prints at most


def capped(message: str) -> str:
    """`message`, cut to MESSAGE characters: a huge value it quotes is not echoed whole."""
    return message if len(message) <= MESSAGE else f"{message[:MESSAGE]}… ({len(message):,} characters)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (
        DataSourceError,
        CheckpointError,
        OutputError,
        SearchIndexError,
        DivergedError,
        FileNotFoundError,
        ImportError,
        ValueError,
    ) as e:
        message = str(e)
    except OSError as e:
        message = os_message(e)
    print(f"error: {capped(message)}", file=sys.stderr)
    return 2


def os_message(e: OSError) -> str:
    """What to do about an `OSError` that reached the CLI: an input that cannot be read
    (/proc/self/mem, a failing disk), or a read-only or full artifacts folder (what was there is kept)."""
    if e.errno not in WRITE_ERRORS:
        return (
            f"cannot read {e.filename or 'an input'} ({e.strerror or e}); give each input (--source, "
            "--config, --glove, --checkpoint, …) as a readable file"
        )
    return (
        f"cannot write {e.filename or 'an artifact'} ({e.strerror or e}); make the artifacts folder "
        "writable and free some space, or point ARTIFACTS_DIR / --artifacts at another folder. Files "
        "already there are unchanged (every write goes to a temporary file first)."
    )
