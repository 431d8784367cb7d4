"""Every source a notebook cites by short name ([P002], [MusicVAE]) has a full entry in references.md."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFINED = set(re.findall(r"^- \*\*\[([A-Za-z][A-Za-z0-9-]*)\]\*\*", (ROOT / "references.md").read_text(), re.M))
CITE = re.compile(r"\[([A-Z][A-Za-z0-9]{2,}(?:-[A-Za-z0-9]+)*)\](?!\()")  # not a Markdown link


def test_the_five_papers_have_entries():
    assert {"P000", "P001", "P002", "P003", "P004"} <= DEFINED


def test_every_cited_source_is_in_references():
    missing = {}
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        cited = set(CITE.findall(text)) - {"text", "code", "derived"}
        if cited - DEFINED:
            missing[nb.stem] = sorted(cited - DEFINED)
    assert not missing, f"cited but not in references.md: {missing}"


def test_every_notebook_opens_with_sources_and_ends_with_further_reading():
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        md = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown"]
        assert any("Sources" in m.split("\n", 1)[0] for m in md[:3]), f"{nb.stem}: no Sources cell near the top"
        assert "Further reading" in md[-1] or "Further reading" in md[-2], f"{nb.stem}: no Further reading at the end"
