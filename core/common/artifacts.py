"""Where artifacts live, how checkpoints are found among them, and how they are written: atomically,
so a crash never leaves half a file."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from core.common.outputs import recover_all

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: new files get the permissions the umask gives


def artifacts_dir() -> Path:
    """`$ARTIFACTS_DIR` as set now (so tests and the app can point elsewhere), else ./artifacts."""
    return Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / "artifacts")


def folders_with(root: str | Path, filename: str) -> dict[str, Path]:
    """`root/NAME/filename` by NAME, in name order, leaving out folders still being written or
    swapped out (`.NAME.partial`, `.NAME.old`)."""
    return {
        p.parent.name: p
        for p in sorted(Path(root).glob(f"*/{filename}"))
        if not p.parent.name.startswith(".")
    }


WARMUP = (
    "warmup"  # the build's first round, the compared rounds' start: measured in metrics.json, not searched
)
PREFERRED = (
    "random",
    "hard",
)  # the build's compared rounds (named by their negatives), listed first in this order
PRETRAINED = "pretrained"  # the warm-up's start when the build pretrains: trained on pseudo-queries alone
UNLISTED = (WARMUP, PRETRAINED)
MINED = Path("mined") / "negatives.json"  # the build's mined negatives, in its artifacts folder
RUN_PREFIX = "run-"  # a training run's checkpoint name: run-ID
ADAPTED = "@"  # an adapted checkpoint's name: FROM@CORPUS


def adapted_name(start: str, corpus: str) -> str:
    """The name of checkpoint `start` adapted to `corpus`: `hard@scifact`."""
    return f"{start}{ADAPTED}{corpus}"


def adapted_start(name: str, corpus: str) -> str | None:
    """The checkpoint that checkpoint `name` was adapted from when it is one adapted to `corpus`."""
    start, at, to = name.rpartition(ADAPTED)
    return start if at and start and to == corpus else None


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or of another format; the message says what to do."""


def runs_dir(artifacts: str | Path | None = None) -> Path:
    """Where training runs live: `artifacts/runs/`."""
    return Path(artifacts or artifacts_dir()) / "runs"


def run_checkpoints(artifacts: str | Path) -> dict[str, Path]:
    """Finished runs' checkpoints (`runs/ID/model.pt`) by name `run-ID`, oldest first."""
    return {RUN_PREFIX + run: p for run, p in folders_with(runs_dir(artifacts), "model.pt").items()}


def find_checkpoints(artifacts: str | Path) -> dict[str, Path]:
    """Every `artifacts/NAME/model.pt` by NAME: random and hard first, then the rest by name (but not the
    warm-up both start from), then finished training runs (`artifacts/runs/ID/model.pt`) as run-ID. A
    folder a crash left mid-swap is recovered first (`outputs.recover`), so its checkpoint is found."""
    recover_all(artifacts)
    recover_all(runs_dir(artifacts))
    found = {n: p for n, p in folders_with(artifacts, "model.pt").items() if n not in UNLISTED}
    found.update(run_checkpoints(artifacts))
    if not found:
        raise CheckpointError(
            f"no checkpoints in {artifacts}: run `python -m core build` to train "
            "artifacts/random/model.pt and artifacts/hard/model.pt"
        )
    order = [n for n in PREFERRED if n in found] + [n for n in found if n not in PREFERRED]
    return {n: found[n] for n in order}


def stale_models(metrics: dict, fingerprints: dict[str, str]) -> list[str]:
    """The models whose figures in `metrics` (metrics.json) are not of the checkpoints shown, given as
    name -> file fingerprint: a checkpoint it measured under another fingerprint (or none recorded),
    and that checkpoint's hybrid. Its figures must not be shown as that checkpoint's."""
    models = metrics.get("models") if isinstance(metrics, dict) else None
    recorded = metrics.get("checkpoints") if isinstance(metrics, dict) else None
    models, recorded = (x if isinstance(x, dict) else {} for x in (models, recorded))
    stale = [n for n, fp in fingerprints.items() if n in models and recorded.get(n) != fp]
    return stale + [f"hybrid:{n}" for n in stale if f"hybrid:{n}" in models]


def checkpoint_path(name: str, artifacts: str | Path) -> Path:
    """`name` itself when it is a checkpoint file, else `artifacts/NAME/model.pt`."""
    path = Path(name)
    return path if path.suffix == ".pt" or path.is_file() else Path(artifacts) / name / "model.pt"


def write_atomic(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `path` whole or not at all: `write(f)` fills a temporary file of a unique name in the same
    folder, which is flushed to disk and renamed over `path`; on any failure it is removed and the
    previous file stands. Concurrent writers never share a temporary file, and readers see the old
    file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)  # as open() would make it, not mkstemp's 0600
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sweep(path: Path) -> None:
    """Remove the temporary files of `path` whose writer is gone (killed mid-write: its pid, in the
    name, is no longer running); a live writer's are left alone."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (`write_atomic`)."""
    data = text.encode("utf-8")
    write_atomic(path, lambda f: f.write(data))


def write_section(doc: str | Path, heading: str, lines: list[str]) -> None:
    """The markdown file `doc` with its section `## heading` replaced by `lines` (or appended), every
    other section kept, written atomically."""
    doc = Path(doc)
    text = doc.read_text() if doc.is_file() else ""
    head, found, rest = text.partition(f"\n## {heading}\n")
    tail = rest[rest.find("\n## ") :] if found and "\n## " in rest else ""
    body = "\n".join(lines).strip("\n")
    write_text(doc, (head.rstrip() + "\n\n" if head.strip() else "") + f"## {heading}\n\n{body}\n" + tail)


def kept_sections(doc: str | Path, text: str) -> str:
    """The `## ` sections of the markdown file `doc` that `text` does not hold, to follow `text` when
    a command rewrites the file it shares with others."""
    old = Path(doc).read_text() if Path(doc).is_file() else ""
    kept = [s for s in old.split("\n## ")[1:] if f"\n## {s.splitlines()[0]}\n" not in f"\n{text}\n"]
    return "".join(f"\n## {s.rstrip()}\n" for s in kept)


def write_json(path: str | Path, obj) -> None:
    """Write JSON atomically (`write_atomic`); NaN and infinities are refused, so the file always parses."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path, default=None):
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else default


def key_of(*parts) -> str:
    """A short fingerprint of JSON-serialisable inputs, for up-to-date checks."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
