"""docs/ARCHITECTURE.md matches the code: every module is in its map, `core` imports only point down
the map (no cycles), `core` never imports Streamlit, and the pages never touch torch or Chroma."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
CORE_TABLE, VIEWS_TABLE = DOC.split("| `views/` |", 1)


def imports(path: Path) -> set[str]:
    return set(re.findall(r"^\s*(?:from|import) ([\w.]+)", path.read_text(), re.M))


def test_every_module_is_on_the_map():
    core = {p.stem for p in (ROOT / "core").glob("*.py")} - {"__init__", "__main__"}
    views = {p.stem for p in (ROOT / "views").glob("*.py")} - {"__init__"}
    assert core == set(re.findall(r"^\| `(\w+)\.py` \|", CORE_TABLE, re.M))
    assert views <= set(re.findall(r"`(\w+)\.py`", VIEWS_TABLE))


def test_core_imports_point_down_the_map():
    order = re.findall(r"^\| `(\w+)\.py` \|", CORE_TABLE, re.M)
    for i, module in enumerate(order):
        used = {m.split(".")[1] for m in imports(ROOT / "core" / f"{module}.py") if m.startswith("core.")}
        later = used & set(order[i:])
        assert not later, f"core/{module}.py imports {sorted(later)}, listed at or below it"


def test_layers():
    for path in (ROOT / "core").glob("*.py"):
        assert not any(m.split(".")[0] == "streamlit" for m in imports(path)), path
    for path in [ROOT / "app.py", *(ROOT / "views").glob("*.py")]:
        assert not any(m.split(".")[0] in ("torch", "chromadb") for m in imports(path)), path
