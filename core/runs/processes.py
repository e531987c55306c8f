"""The processes runs train in: started in a process group of their own and kept so that they are
reaped (`spawn`, `kill`, `forget`); known by pid *and* start time, so that a reused pid is never
trusted (`process_start`, `alive`); and how one ended, from its exit status, or else from its output
(`ending`, `output_tail`)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # where `python -m core` runs from
ERROR_LINES = 25

_children: dict[int, subprocess.Popen] = {}  # processes this process started, polled so they are reaped


def spawn(command: list[str], output: Path) -> subprocess.Popen:
    """Start `command` from the repository root in a process group of its own (it outlives the app's
    session), its output unbuffered into `output`; kept until `forget` so that it is reaped."""
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    _children[proc.pid] = proc
    return proc


def kill(proc: subprocess.Popen) -> None:
    """Kill a process `spawn` started, with its group, and reap it."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _children.pop(proc.pid, None)


def forget(pid: int) -> subprocess.Popen | None:
    """The ended process `spawn` started as `pid`, no longer kept (its `returncode` is how it ended);
    None when another process started it."""
    return _children.pop(pid, None)


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot, /proc/PID/stat field 22), or None when there
    is no such running process (a zombie has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def alive(pid, start) -> bool:
    """Whether process `pid` still runs and is the one that started at `start`: a pid whose start time
    differs was reused by another process. A child of ours is asked directly (and reaped when done):
    its pid cannot be reused before that."""
    if not (isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and isinstance(start, int)):
        return False
    if pid in _children:
        return _children[pid].poll() is None
    return process_start(pid) == start


def output_tail(path: Path, lines: int = ERROR_LINES) -> str:
    """The last lines of a process's output, progress-bar redraws (carriage returns) collapsed."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    shown = [
        next((part for part in reversed(line.split("\r")) if part.strip()), "") for line in text.split("\n")
    ]
    return "\n".join([line for line in shown if line][-lines:])


def ending(returncode: int | None, output: str = "") -> str:
    """How a process ended, from its exit status (negative: the signal that killed it). Another app
    process than the one that started it cannot know the status: then it is read from the output,
    since a run that ends by itself says why (an `error:` line, a traceback) or publishes a checkpoint."""
    if returncode is not None:
        return f"killed (signal {-returncode})" if returncode < 0 else f"exited with code {returncode}"
    lines = output.splitlines()
    if any(line.startswith("error:") for line in lines):
        return "exited with an error"
    if any(line.startswith("Traceback") for line in lines):
        return "crashed with an exception"
    return (
        "killed: it ended without a word and without a checkpoint, as a SIGKILL or running out of "
        "memory ends a process (its exit status is known only to the app process that started it)"
    )
