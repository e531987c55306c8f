"""docs/ARCHITECTURE.md matches the code: every module is in its map, in its layer's folder; `core`
imports only point down the map (no cycles, no layer reaching up), in every form an import takes
(`from core.a.b import x`, `from core.a import b`, `from core import a`, `import core.a.b`); in
`views/`, parts import only parts above them and pages import parts, never pages; `core` never
imports Streamlit (no import line names it, and importing every core module in a fresh interpreter
leaves it unloaded), a browser driver, the app or the app's benchmark (`bench/`, itself on the map),
and the pages never touch torch or Chroma."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
CORE_TABLE, VIEWS_TABLE = DOC.split("| `views/` |", 1)
CORE_ORDER = ["core." + m.replace("/", ".") for m in re.findall(r"^\| `(\w+/\w+)\.py` \|", CORE_TABLE, re.M)]
NOT_IN_CORE = {"streamlit", "playwright", "views", "bench"}  # the app, its benchmark, their drivers
PARTS_ORDER = ["views.parts." + m for m in re.findall(r"^\| `parts/(\w+)\.py` \|", VIEWS_TABLE, re.M)]


def listed(package: str) -> set[str]:
    paths = (ROOT / package).rglob("*.py")
    return {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in paths if p.stem[:2] != "__"}


def imported(source: str) -> set[str]:
    """The project modules (or packages) `source` imports, each resolved to the most specific name:
    `from core.a import b` is module `core.a.b` where that file exists, else package `core.a`."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                is_module = (ROOT / Path(*full.split("."))).with_suffix(".py").is_file()
                is_package = (ROOT / Path(*full.split("."))).is_dir()
                out.add(full if is_module or is_package else node.module)
    return {m for m in out if m.split(".")[0] in ("core", "views")}


def covers(name: str, order: list[str]) -> list[str]:
    """The modules of `order` that importing `name` (a module or a package) reaches."""
    return [m for m in order if m == name or m.startswith(name + ".")] or [name]


def below_violations(module: str, source: str, order: list[str]) -> list[str]:
    """What `module` imports at or below its own place in `order`."""
    later = set(order[order.index(module) :])
    return sorted({m for name in imported(source) for m in covers(name, order) if m in later})


def test_every_module_is_on_the_map_in_its_layer_folder():
    assert listed("core") == set(CORE_ORDER)
    pages = {"views.pages." + m for m in re.findall(r"`pages/(\w+)\.py`", VIEWS_TABLE)}
    assert listed("views") == set(PARTS_ORDER) | pages
    assert all(f"`{m.replace('.', '/')}.py`" in DOC for m in listed("bench"))
    assert len(CORE_ORDER) == len(set(CORE_ORDER))


def test_core_imports_point_down_the_map():
    for module in CORE_ORDER:
        source = (ROOT / Path(*module.split("."))).with_suffix(".py").read_text()
        assert not below_violations(module, source, CORE_ORDER), module


@pytest.mark.parametrize(
    "line",
    [
        "from core.pipeline import build",
        "from core import pipeline",
        "from core.pipeline.build import build",
        "import core.pipeline.build",
        "from core.retrieval import dense",
    ],
)
def test_an_import_that_points_up_is_caught_in_every_form(line):
    assert below_violations("core.retrieval.index", line, CORE_ORDER)


def test_an_import_that_points_down_is_allowed_in_every_form():
    ok = "from core.common import config\nfrom core import common\nimport core.data.text\n"
    assert not below_violations("core.retrieval.index", ok, CORE_ORDER)


def test_views_parts_point_down_and_pages_never_import_pages():
    for part in PARTS_ORDER:
        source = (ROOT / Path(*part.split("."))).with_suffix(".py").read_text()
        assert not below_violations(part, source, PARTS_ORDER), part
        assert not any(m.startswith("views.pages") for m in imported(source)), part
    for page in (ROOT / "views" / "pages").glob("*.py"):
        assert not any(m.startswith("views.pages") for m in imported(page.read_text())), page


def test_layers():
    for path in (ROOT / "core").rglob("*.py"):
        assert not {m.split(".")[0] for m in _all_imports(path)} & NOT_IN_CORE, path
    for path in [ROOT / "app.py", *(ROOT / "views").rglob("*.py")]:
        assert not {m.split(".")[0] for m in _all_imports(path)} & {"torch", "chromadb"}, path


def loaded_at_run_time(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    """The modules of `packages` that importing `modules` in a fresh interpreter loads, whatever the
    import lines say (an import inside a function that runs at import time counts too)."""
    script = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r})))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_importing_every_core_module_loads_no_streamlit():
    assert CORE_ORDER and not loaded_at_run_time(CORE_ORDER, ("streamlit",))


def _all_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
