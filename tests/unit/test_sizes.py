"""Every module readable in one sitting: each `.py` under core/ and views/, and app.py, has at most
300 lines, and each function or method (nested ones included) at most 60, from its `def` line to its
last line (`end_lineno - lineno + 1`; decorators not counted).

What is not a function is not held to the 60 lines: a table of data assigned at module level (a
settings registry, a dict of labels) and a page's module-level script code. It still counts toward its
module's 300 lines. A table of data inside a function counts toward the function: move it to module
level. There is no list of modules let off."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_LINES, FUNCTION_LINES = 300, 60


def sources(root: Path) -> list[Path]:
    """The files held to the limits: every `.py` under core/ and views/, and app.py."""
    files = [*(root / "core").rglob("*.py"), *(root / "views").rglob("*.py"), root / "app.py"]
    return sorted(path for path in files if path.is_file())


def functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method in `tree`, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        name = prefix
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}."
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield name[:-1], node
        yield from functions(node, name)


def offenders(root: Path) -> list[str]:
    """What breaks the limits under `root`, one line each: the module and its length, or the module,
    the function's line and name and its length."""
    found = []
    for path in sources(root):
        text, where = path.read_text(encoding="utf-8"), path.relative_to(root).as_posix()
        if len(text.splitlines()) > MODULE_LINES:
            found.append(f"{where}: {len(text.splitlines())} lines (at most {MODULE_LINES})")
        for name, node in functions(ast.parse(text)):
            length = node.end_lineno - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{where}:{node.lineno} {name}: {length} lines (at most {FUNCTION_LINES})")
    return found


def test_no_module_over_300_lines_and_no_function_over_60():
    found = offenders(ROOT)
    assert not found, "too long; split by concept (and list new modules in docs/ARCHITECTURE.md):\n" + (
        "\n".join(found)
    )


def test_the_check_names_each_module_and_function_too_long(tmp_path):
    """The check fails where it should: a module of 301 lines, a method and a nested function of 61,
    never a function of 60, a long page script or table, nor a file outside core/, views/ and app.py."""

    def write(relative: str, lines: list[str]) -> None:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("\n".join(lines) + "\n")

    body = [f"x{i} = {i}" for i in range(59)]
    write("core/a/fits.py", ["def limit():", *("    " + b for b in body)])  # 60 lines: allowed
    write(
        "core/a/method.py",
        ["class Kind:", "    def method(self):", *("        " + b for b in body), "        pass"],
    )
    write(
        "views/parts/nested.py",
        ["def outer():", "    def inner():", *("        " + b for b in body), "        pass"],
    )
    table = ["TABLE = {", *(f"    'k{i}': {i}," for i in range(100)), "}"]
    write("views/pages/page.py", [*table, *["print(TABLE)"] * 150])  # a table and script code: no function
    write("app.py", ["x = 1"] * 301)
    write("scripts/elsewhere.py", ["def elsewhere():", *("    " + b for b in body), "    pass"])
    assert offenders(tmp_path) == [
        "app.py: 301 lines (at most 300)",
        "core/a/method.py:2 Kind.method: 61 lines (at most 60)",
        "views/parts/nested.py:1 outer: 62 lines (at most 60)",
        "views/parts/nested.py:2 outer.inner: 61 lines (at most 60)",
    ]
