"""make book: executed notebooks -> HTML pages with embedded figures and players, local KaTeX, an index."""
import json
import os
import re
import shutil
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib import book, course

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is missing: the book fetches KaTeX with "
                               "`npm pack` at build time (apt-get install -y npm)")


def _notebook(title, *cells):
    nb = new_notebook(cells=[new_markdown_cell(f"# {title}\n\nThe loss is $\\mathcal L = \\sum_t x_t^2$ and\n\n"
                                               "$$\n\\operatorname{softmax}\\Big(\\frac{QK^\\top}{\\sqrt{d_k}}\\Big)V\n$$"),
                             *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two smoke-executed notebooks (a figure with a player; a plain print) and a findings file -> a book."""
    root = tmp_path_factory.mktemp("build")
    old = {k: os.environ.get(k) for k in ("COURSE_BUILD", "MPLBACKEND")}
    os.environ["COURSE_BUILD"] = str(root)
    os.environ.pop("MPLBACKEND", None)  # the kernel draws inline, as under `make course`
    src = root / "src"
    src.mkdir()
    listen = ("import torch\nfrom course_lib import plots\nt = torch.arange(8000) / 16000\n"
              "plots.listen(0.3 * torch.sin(2 * torch.pi * 440 * t), 16000, title='A4')")
    nbformat.write(_notebook("10 · A tone", new_code_cell(listen)), src / "10_tone.ipynb")
    nbformat.write(_notebook("11 · Words", new_code_cell("print('no figure here')")), src / "11_words.ipynb")
    for p in sorted(src.glob("*.ipynb")):
        ok, _, err = course.run_notebook(p, "smoke", root / "notebooks", timeout=120)
        assert ok, err
    (root / "results" / "smoke").mkdir(parents=True)
    claim = {"id": "tone_is_a4", "kind": "check", "paper": "-", "measured": {"hz": 440.0},
             "summary": "the tone is at 440 Hz", "verdict": "pass"}
    (root / "results" / "smoke" / "10.json").write_text(json.dumps(
        {"chapter": "10", "profile": "smoke", "device": "cpu", "wall_s": 1.0, "claims": [claim]}))
    try:
        yield book.build_book("smoke"), root
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@needs_npm
def test_pages_embed_outputs_and_load_nothing_from_other_sites(built):
    index, root = built
    page = (index.parent / "10_tone.html").read_text()
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', page)) == 1
    assert len(re.findall(r'<audio[^>]*>\s*<source src="data:audio/wav;base64,', page)) == 1
    remote = re.findall(r'<(?:script|link|img|audio|source)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"', page)
    assert remote == [] and "mathjax" not in page.lower() and "cdnjs" not in page
    assert (index.parent / "katex" / "katex.min.js").stat().st_size > 100_000
    assert list((index.parent / "katex" / "fonts").glob("*.woff2"))
    assert '<a href="11_words.html">11 · Words &rarr;</a>' in page and '<a href="index.html">contents</a>' in page


@needs_npm
def test_index_has_the_chapter_map_and_the_results_table(built):
    index, _ = built
    text = index.read_text()
    assert re.findall(r'<li><a href="(\d\d_\w+\.html)">', text) == ["10_tone.html", "11_words.html"]
    assert "10 · A tone" in text and "tone_is_a4" in text and "<table>" in text


def test_build_book_without_a_course_run_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_BUILD", str(tmp_path))
    with pytest.raises(SystemExit, match="make course"):
        book.build_book("smoke")


@needs_npm
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make test` installs it when run as root "
                    "(apt-get install -y chromium); otherwise install it to run the browser check")
def test_a_page_renders_in_a_headless_browser_with_figures_players_and_maths(built, tmp_path):
    index, _ = built
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=10000", "--dump-dom", (index.parent / "10_tone.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert len(re.findall(r"<img[^>]+data:image/png", dom)) == 1 and len(re.findall(r"<audio\b", dom)) == 1
    assert len(re.findall(r'class="katex-display"', dom)) == 1  # the displayed formula, typeset by KaTeX
    assert len(re.findall(r'class="katex"', dom)) == 2 and "katex-error" not in dom
    assert '<a href="index.html">contents</a>' in dom
