#!/usr/bin/env python3
"""Size limits for the package: no function or method over 80 lines, no module over 500.

    python scripts/check_sizes.py [ROOT ...]      (default: src/babelir)

A function's span runs from its first decorator (or its ``def`` line) to its last line,
blank lines and docstring included; a nested function counts towards its parent as well as
on its own. A module's size is its number of lines. Prints one line per offender and exits
1 when there is any (0 otherwise). tests/test_code_limits.py runs ``offenders`` over
src/babelir.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "src" / "babelir"


@dataclass(frozen=True)
class Offender:
    """One place over its limit: ``name`` is ``"<module>"`` for a whole module, or the
    function's qualified name (``Class.method``, ``outer.inner``)."""

    path: str
    name: str
    lines: int
    limit: int

    def __str__(self) -> str:
        return f"{self.path}: {self.name}: {self.lines} lines (limit {self.limit})"


def function_spans(tree: ast.AST) -> list[tuple[str, int]]:
    """(qualified name, line span) of every function and method in ``tree``."""
    spans: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                name = prefix + child.name
                spans.append((name, child.end_lineno - first + 1))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def file_offenders(path: Path, shown: str) -> list[Offender]:
    text = path.read_text(encoding="utf-8")
    found: list[Offender] = []
    n_lines = len(text.splitlines())
    if n_lines > MAX_MODULE_LINES:
        found.append(Offender(shown, "<module>", n_lines, MAX_MODULE_LINES))
    for name, span in function_spans(ast.parse(text, filename=str(path))):
        if span > MAX_FUNCTION_LINES:
            found.append(Offender(shown, name, span, MAX_FUNCTION_LINES))
    return found


def offenders(root: Path = DEFAULT_ROOT) -> list[Offender]:
    """Every offender in the ``.py`` files under ``root`` (paths shown relative to the
    folder above ``root``, e.g. ``babelir/retrieval/sharded.py``)."""
    root = Path(root)
    found: list[Offender] = []
    for path in sorted(root.rglob("*.py")):
        found.extend(file_offenders(path, path.relative_to(root.parent).as_posix()))
    return found


def main(argv: list[str] | None = None) -> int:
    roots = [Path(a) for a in (sys.argv[1:] if argv is None else argv)] or [DEFAULT_ROOT]
    found = [o for root in roots for o in offenders(root)]
    for offender in found:
        print(offender)
    print(f"{len(found)} over the limits (function {MAX_FUNCTION_LINES} lines, "
          f"module {MAX_MODULE_LINES} lines)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
