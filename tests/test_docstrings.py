"""Docstrings name the notebook that teaches a function only where that notebook really uses it."""
import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.stem: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
NOTEBOOKS |= {p.stem: p for p in (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_solutions.ipynb")}
TAG = re.compile(r"Notebook: (\S+?)\.?(?:\s|$)")


def _code(stem: str) -> str:
    """The notebook's code cells without comments."""
    nb = json.loads(NOTEBOOKS[stem].read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return re.sub(r"#[^\n]*", "", code)


def uses(code: str, name: str, method: bool) -> bool:
    """A call, an attribute access or an import of `name` (a method: an attribute access)."""
    n = re.escape(name)
    pattern = rf"\.{n}\b" if method else rf"(?<![\w.]){n}\s*\(|\.{n}\b|import[^\n]*\b{n}\b"
    return re.search(pattern, code) is not None


def _documented():
    """(module path, object name, is a method, docstring) of every documented function and class in course_lib."""
    for path in sorted((ROOT / "course_lib").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(item):
                        yield path, item.name, True, ast.get_docstring(item)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and ast.get_docstring(node):
                yield path, node.name, False, ast.get_docstring(node)


CASES = [c for c in _documented() if TAG.search(c[3])]


def test_some_docstrings_name_their_notebook():
    assert len(CASES) > 50


@pytest.mark.parametrize("path,name,method,doc", CASES, ids=[f"{c[0].stem}.{c[1]}" for c in CASES])
def test_named_notebook_uses_the_function(path, name, method, doc):
    stem = TAG.search(doc).group(1)
    assert stem in NOTEBOOKS, f"{path.name}: {name} names {stem}, which is not a notebook"
    assert uses(_code(stem), name, method), f"{path.name}: {name} says 'Notebook: {stem}', but that notebook never uses it"


def test_no_chapter_tags_left():
    old = [f"{p.relative_to(ROOT)}: {n}" for p, n, _, d in _documented() if re.match(r"Chapters? \d\d[.,]", d)]
    assert not old, "docstrings still start with a 'Chapter NN.' tag: " + ", ".join(old[:10])
