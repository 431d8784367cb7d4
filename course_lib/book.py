"""The executed course as a browsable HTML book: build/book/index.html and one page per notebook.

    make book                  (after `make course`: reads build/notebooks/*.ipynb and build/results/<profile>/)
    python -m course_lib.course book [--profile cpu]

Figures and audio players are embedded in the pages (data URIs). Maths is typeset in the reader's browser by a local
copy of KaTeX, taken from the npm registry's package at build time (`npm pack`, cached in build/.cache): nothing is
fetched when the book is read, and no page refers to another site for a script, a style sheet or a font.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from .context import build_root

KATEX_VERSION = "0.16.22"
KATEX_FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
_REMOTE = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>|<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>",
                     re.I)
_REMOTE_IMPORT = re.compile(r"<script\b[^>]*>(?:(?!</script>).)*?\bimport\b[^;]*https?://(?:(?!</script>).)*</script>", re.S)
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def katex_assets(dest: Path, cache: Path | None = None) -> Path:
    """Unpack KaTeX (scripts, style sheet, fonts) into dest/katex from npm's package, downloaded once with `npm pack`."""
    cache = cache or build_root() / ".cache"
    tgz = cache / f"katex-{KATEX_VERSION}.tgz"
    if not tgz.exists():
        if shutil.which("npm") is None:
            raise RuntimeError("make book needs npm once, to fetch KaTeX (maths typesetting) from the npm registry: "
                               "apt-get install -y npm (or install Node.js), then run it again")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", f"katex@{KATEX_VERSION}", "--silent", "--pack-destination", str(cache)],
                       check=True, capture_output=True, timeout=300)
    out = dest / "katex"
    if not (out / "katex.min.js").exists():
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/dist/")]
            for m in members:
                m.name = m.name.removeprefix("package/dist/")
            tar.extractall(out, members=members, filter="data")
    missing = [f for f in KATEX_FILES if not (out / f).exists()]
    if missing:
        raise RuntimeError(f"{tgz}: KaTeX package without {missing}; delete it and run make book again")
    return out


KATEX_HEAD = """<link rel="stylesheet" href="katex/katex.min.css">
<script defer src="katex/katex.min.js"></script>
<script defer src="katex/contrib/auto-render.min.js" onload="renderMathInElement(document.body, {delimiters: [
  {left: '$$', right: '$$', display: true}, {left: '$', right: '$', display: false}], throwOnError: false})"></script>
<style>.book-nav{font-family:sans-serif;padding:8px 16px;background:#f4f4f4;border-bottom:1px solid #ddd}
.book-nav a{margin-right:1.5em}</style>
"""


def _title(nb: dict) -> str:
    """The notebook's first '# ' heading, e.g. '02 · FC vs conv autoencoders'."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            m = re.search(r"^# (.+)$", src, re.M)
            if m:
                return m.group(1).strip()
    return "untitled"


def render_page(path: Path, nav: str) -> str:
    """One executed notebook as a standalone HTML page: outputs embedded, local KaTeX, no remote scripts."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    body = _MATHJAX.sub("", body)
    body = _REMOTE.sub("", _REMOTE_IMPORT.sub("", body))  # e.g. the template's Mermaid loader (no diagrams here)
    body = body.replace("</head>", KATEX_HEAD + "</head>", 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)


def index_page(chapters: list[tuple[str, str]], profile: str) -> str:
    """The book's front page: the chapter map (linked) and the results table of the run (course_lib.results)."""
    import markdown

    from .results import write_report

    report_md = write_report(profile, build_root() / "book" / "_report.md").read_text()
    report_md = re.sub(r"^# .*\n", "", report_md, count=1)
    items = "\n".join(f'<li><a href="{html.escape(page)}">{html.escape(title)}</a></li>' for page, title in chapters)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Generative models for music: the executed course"
            "</title><style>body{font-family:sans-serif;max-width:62em;margin:auto;padding:1em}table{border-collapse:"
            "collapse}td,th{border:1px solid #bbb;padding:3px 6px}img{max-width:100%}</style></head><body>"
            f"<h1>Generative models for music</h1><p>The executed notebooks of a <b>{html.escape(profile)}</b> run, "
            "with their figures, audio players and findings. Each chapter builds on the ones before it.</p>"
            f"<h2>Chapters</h2><ol start='0' class='chapters'>{items}</ol>"
            f"<h2>Results</h2>{markdown.markdown(report_md, extensions=['tables'])}</body></html>")


def build_book(profile: str | None = None, notebooks: Path | None = None, out: Path | None = None) -> Path:
    """Build the book from the executed notebooks (default build/notebooks) into out (default build/book)."""
    from .sizes import profile_name

    profile = profile_name(profile)
    src = notebooks or build_root() / "notebooks"
    paths = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise SystemExit(f"no executed notebooks in {src}: run `make course` (PROFILE=smoke is quick) first")
    out = out or build_root() / "book"
    out.mkdir(parents=True, exist_ok=True)
    katex_assets(out)
    pages = [(p.with_suffix(".html").name, _title(json.loads(p.read_text()))) for p in paths]
    for k, p in enumerate(paths):
        links = ['<a href="index.html">contents</a>']
        if k:
            links.insert(0, f'<a href="{pages[k - 1][0]}">&larr; {html.escape(pages[k - 1][1])}</a>')
        if k + 1 < len(paths):
            links.append(f'<a href="{pages[k + 1][0]}">{html.escape(pages[k + 1][1])} &rarr;</a>')
        (out / pages[k][0]).write_text(render_page(p, f'<nav class="book-nav">{"".join(links)}</nav>'))
    (out / "index.html").write_text(index_page(pages, profile))
    return out / "index.html"
