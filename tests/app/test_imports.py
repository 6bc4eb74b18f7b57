"""Imports made inside functions carry a reason (issue 29).

An import inside a function hides an edge from import-linter (tests/app/test_layers.py), so the
library keeps one only for an optional dependency, an import cycle or a measured start-up cost, and
says which in a comment: on the import's own line(s) or on the line right above it. A comment line
directly above a block of consecutive imports covers the whole block.
"""
import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("base", "golden", "hw", "sim", "boards", "adderhw")


def _sources():
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py") if "__pycache__" not in p.parts)


def _comment_lines(text):
    """(lines holding a comment, lines holding only a comment)."""
    anywhere, alone = set(), set()
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            anywhere.add(tok.start[0])
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER):
            code.update(range(tok.start[0], tok.end[0] + 1))
    alone = anywhere - code
    return anywhere, alone


def _import_blocks(tree):
    """Each run of consecutive import statements inside a function, as a list of nodes."""
    blocks = []

    def visit(node, in_function):
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list):
                continue
            run = []
            for stmt in stmts:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)) and inside:
                    if run and stmt.lineno != run[-1].end_lineno + 1:
                        blocks.append(run)
                        run = []
                    run.append(stmt)
                    continue
                if run:
                    blocks.append(run)
                    run = []
            if run:
                blocks.append(run)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return blocks


def uncommented_imports(path):
    """The line numbers of the imports inside functions of ``path`` that carry no comment."""
    text = path.read_text()
    anywhere, alone = _comment_lines(text)
    bad = []
    for block in _import_blocks(ast.parse(text, str(path))):
        covered = block[0].lineno - 1 in alone
        for node in block:
            own = any(n in anywhere for n in range(node.lineno, node.end_lineno + 1))
            if not (covered or own or node.lineno - 1 in alone):
                bad.append(node.lineno)
    return bad


def test_every_import_inside_a_function_says_why():
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in _sources() for line in uncommented_imports(p)]
    assert not bad, (f"{len(bad)} imports inside functions have no comment saying why (an optional "
                     "dependency, an import cycle or a measured start-up cost); move them to the "
                     "module's top or comment them:\n" + "\n".join(bad))


@pytest.mark.parametrize("source, bad", [
    ("def f():\n    import os\n", [2]),
    ("def f():\n    import os  # cycle: a <-> b\n", []),
    ("def f():\n    # optional: dask\n    import dask\n    from dask import delayed\n", []),
    ("def f():\n    # optional: dask\n    import dask\n\n    import os\n", [5]),
    ("def f():\n    x = 1  # a comment on code\n    import os\n", [3]),
    ("import os\n\nclass A:\n    def m(self):\n        if True:\n            import sys\n", [6]),
    ("import os\n", []),
])
def test_the_check_itself(tmp_path, source, bad):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert uncommented_imports(path) == bad
