"""Findings files (paper reports / we measured / verdict), the course report and the README results table."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from .context import build_root, repo_root
from .io import atomic_path, write_json_atomic

VERDICTS = ("reproduced", "partly", "not reproduced", "not tested")


def verdict(holds: bool, partly: bool = False) -> str:
    """Turn a measured test into a verdict: 'reproduced', else 'partly' when partly, else 'not reproduced'.

    Notebook: 00_start_here
    """
    return "reproduced" if holds else ("partly" if partly else "not reproduced")


def results_dir(profile: str) -> Path:
    """Build/results/<profile>/: where notebooks write their findings."""
    return build_root() / "results" / profile


def _plain(value: Any) -> Any:
    """JSON-friendly numbers: tensors and numpy scalars become floats, rounded to 6 significant digits."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Findings:
    """The findings of one chapter run: claims with verdicts, metrics, figures; saved as JSON."""

    def __init__(self, chapter: str, profile: str, device: str, seeds: list[int], device_type: str = "cpu"):
        self.chapter, self.profile, self.device, self.seeds = chapter, profile, device, list(seeds)
        self.device_type = device_type
        self.claims: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self.figures: list[str] = []
        self._t0 = time.perf_counter()

    def claim(self, id: str, paper: str, measured: Any, verdict: str, why: str | None = None) -> dict[str, Any]:
        """Record one tested claim; re-recording an id replaces it (cells may be re-run). Notebook: 00_start_here."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        if verdict != "reproduced" and not why:
            raise ValueError(f"claim {id!r}: a verdict of {verdict!r} needs a `why`")
        entry = {"id": id, "paper": paper, "measured": _plain(measured), "verdict": verdict}
        if why:
            entry["why"] = why
        self.claims = [c for c in self.claims if c["id"] != id] + [entry]
        return entry

    def metric(self, key: str, value: Any) -> None:
        """Record anything else the chapter measured. Notebook: 00_start_here."""
        self.metrics[key] = _plain(value)

    def figure(self, name: str, fig) -> Path:
        """Save a key figure (PNG) for the report: build/results/<profile>/figures/<chapter>_<name>.png.

        Notebook: 01_audio_and_midi
        """
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ValueError(f"figure name {name!r}: use letters, digits, '_' and '-' only")
        path = results_dir(self.profile) / "figures" / f"{self.chapter}_{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=90, bbox_inches="tight", format="png")
        rel = f"figures/{path.name}"
        if rel not in self.figures:
            self.figures.append(rel)
        return path

    def to_dict(self) -> dict[str, Any]:
        """The findings file's content, with wall time and peak memory measured now."""
        from .train import peak_memory_mb
        import torch

        dev = torch.device(self.device_type if self.device_type == "cuda" and torch.cuda.is_available() else "cpu")
        return {"chapter": self.chapter, "profile": self.profile, "device": self.device, "seeds": self.seeds,
                "wall_s": round(time.perf_counter() - self._t0, 1), "peak_mem_mb": round(peak_memory_mb(dev), 1),
                "claims": self.claims, "metrics": self.metrics, "figures": self.figures}

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write build/results/<profile>/<chapter>.json (atomically) and return its path. Notebook: 00_start_here."""
        path = Path(path) if path else results_dir(self.profile) / f"{self.chapter}.json"
        return write_json_atomic(path, self.to_dict())

    def table(self) -> str:
        """The findings as a Markdown table."""
        return claims_table(self.claims)

    def _repr_markdown_(self) -> str:
        return f"**Findings, chapter {self.chapter} ({self.profile} profile)**\n\n{self.table()}"


def _fmt_measured(m: Any) -> str:
    if isinstance(m, dict):
        return ", ".join(f"{k} = {_fmt_measured(v)}" for k, v in m.items())
    if isinstance(m, float):
        return f"{m:.4g}"
    if isinstance(m, list):
        return "[" + ", ".join(_fmt_measured(v) for v in m[:8]) + (", ..." if len(m) > 8 else "") + "]"
    return str(m)


def claims_table(claims: list[dict[str, Any]], chapter: str | None = None) -> str:
    """Markdown table: claim | paper reports | we measured | verdict."""
    head = ("| chapter " if chapter is not None else "") + "| claim | paper reports | we measured | verdict |"
    sep = ("|---" if chapter is not None else "") + "|---|---|---|---|"
    rows = [head, sep]
    for c in claims:
        v = c["verdict"] + (f" ({c['why']})" if c.get("why") else "")
        cells = [c["id"], c["paper"], _fmt_measured(c["measured"]), v]
        if chapter is not None:
            cells.insert(0, chapter)
        rows.append("| " + " | ".join(str(x).replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(rows)


def load_findings(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Read every <chapter>.json in a folder, sorted by chapter; a broken file is named and skipped."""
    out = []
    for p in sorted(Path(folder).glob("[0-9][0-9].json")):
        try:
            d = json.loads(p.read_text())
            if not {"chapter", "claims"} <= set(d):
                raise ValueError("missing 'chapter' or 'claims'")
            out.append(d)
        except (json.JSONDecodeError, ValueError) as e:
            print(f"warning: skipping {p}: {e}. Re-run that chapter to rewrite it.")
    return out


def write_report(profile: str, out: str | os.PathLike | None = None) -> Path:
    """Gather build/results/<profile>/*.json into build/report.md and build/report.html."""
    folder = results_dir(profile)
    found = load_findings(folder)
    out = Path(out) if out else build_root() / "report.md"
    lines = [f"# Course report ({profile} profile)", ""]
    if not found:
        lines.append(f"No findings in {folder}: run `make course` first.")
    else:
        total = sum(f.get("wall_s", 0) for f in found)
        lines += [f"{len(found)} chapters, total notebook time {total / 60:.1f} min.", "",
                  "| chapter | device | wall time (s) | peak memory (MB) | claims reproduced |", "|---|---|---|---|---|"]
        for f in found:
            n_ok = sum(c["verdict"] == "reproduced" for c in f["claims"])
            lines.append(f"| {f['chapter']} | {f.get('device', '?')} | {f.get('wall_s', float('nan')):.0f} | "
                         f"{f.get('peak_mem_mb', float('nan')):.0f} | {n_ok} / {len(f['claims'])} |")
        for f in found:
            lines += ["", f"## Chapter {f['chapter']}", "", claims_table(f["claims"]), ""]
            if f.get("metrics"):
                lines.append("Other measurements: " + "; ".join(f"{k} = {_fmt_measured(v)}"
                                                               for k, v in f["metrics"].items()))
            for fig in f.get("figures", []):
                lines += ["", f"![{fig}](results/{profile}/{fig})"]
    md = "\n".join(lines) + "\n"
    with atomic_path(out) as tmp:
        tmp.write_text(md)
    import markdown

    html = markdown.markdown(md, extensions=["tables"])
    style = "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}" \
            "td,th{border:1px solid #bbb;padding:3px 6px}img{max-width:100%}</style>"
    with atomic_path(out.with_suffix(".html")) as tmp:
        tmp.write_text(f"<!doctype html><meta charset='utf-8'><title>Course report</title>{style}\n{html}")
    return out


README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


def readme_table(root: str | os.PathLike | None = None) -> str:
    """The README results table built from the committed notebooks/results/<profile>/*.json."""
    root = Path(root) if root else repo_root() / "notebooks" / "results"
    lines = ["| profile / device | chapter | claim | paper reports | we measured | verdict |", "|---|---|---|---|---|---|"]
    any_rows = False
    for profile in ("cpu", "gpu"):
        for f in load_findings(root / profile):
            for c in f["claims"]:
                any_rows = True
                v = c["verdict"] + (f" ({c['why']})" if c.get("why") else "")
                cells = [f"{profile} / {f.get('device', '?')}", f["chapter"], c["id"], c["paper"],
                         _fmt_measured(c["measured"]), v]
                lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) if any_rows else "No reference runs committed yet."


def update_readme(readme: str | os.PathLike | None = None, root: str | os.PathLike | None = None) -> bool:
    """Replace the table between the results markers in README.md; True when it changed."""
    readme = Path(readme) if readme else repo_root() / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme}: add the markers {README_START} and {README_END} where the table goes")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{readme_table(root)}\n{README_END}{tail}"
    if new != text:
        with atomic_path(readme) as tmp:
            tmp.write_text(new)
    return new != text
