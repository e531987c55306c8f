"""Where artifacts live and how they are written: atomically, so a crash never leaves half a file."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path



def artifacts_dir() -> Path:
    """`$ARTIFACTS_DIR` as set now (so tests and the app can point elsewhere), else ./artifacts."""
    return Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).resolve().parents[1] / "artifacts")


def folders_with(root: str | Path, filename: str) -> dict[str, Path]:
    """`root/NAME/filename` by NAME, in name order, leaving out folders still being written or
    swapped out (`.NAME.partial`, `.NAME.old`)."""
    return {p.parent.name: p for p in sorted(Path(root).glob(f"*/{filename}")) if not p.parent.name.startswith(".")}


def write_json(path: str | Path, obj) -> None:
    """Write JSON via a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)     # only left when the write failed (a full disk): the old file stands


def write_text(path: str | Path, text: str) -> None:
    """Write text via a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_json(path: str | Path, default=None):
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else default


def partial_dir(final: str | Path) -> Path:
    """A fresh sibling folder to build `final` in; `publish_dir` swaps it in when complete."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def publish_dir(tmp: Path, final: str | Path) -> None:
    """Replace `final` by the completed `tmp` folder (the old one survives until the swap)."""
    final = Path(final)
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def key_of(*parts) -> str:
    """A short fingerprint of JSON-serialisable inputs, for up-to-date checks."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
