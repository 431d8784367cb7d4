"""Findings files (paper reports / we measured / verdict), the course report and the README results table."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .context import build_root, repo_root
from .io import atomic_path, write_json_atomic

KINDS = ("paper", "audit", "check")
# paper: a claim a paper makes, tested here; audit: the course's own critique of a paper (an error in its tables, a
# bug in its code, a contradiction); check: a sanity check of our own data or code. Only paper claims are
# reproductions and count in the tallies.
VERDICTS = {"paper": ("reproduced", "partly", "not reproduced", "inconclusive", "not tested"),
            "audit": ("confirmed", "not confirmed"),
            "check": ("pass", "fail")}
PASSING = {"paper": "reproduced", "audit": "confirmed", "check": "pass"}  # the verdicts that need no `why`
MAX_PAPER, MAX_SUMMARY = 220, 160  # characters: what the README's one line per claim can hold
PROVENANCE = re.compile(r"\[(text|code|derived)\]")


def verdict(holds: bool, partly: bool = False) -> str:
    """A paper claim measured without trained models: 'reproduced', else 'partly' when partly, else 'not reproduced'.

    Notebook: 01_audio_and_midi
    """
    return "reproduced" if holds else ("partly" if partly else "not reproduced")


def audit(confirmed: bool) -> str:
    """The verdict of an audit item (our critique of a paper): 'confirmed' or 'not confirmed'."""
    return "confirmed" if confirmed else "not confirmed"


def check(ok: bool) -> str:
    """The verdict of a check of our own data or code: 'pass' or 'fail'."""
    return "pass" if ok else "fail"


def _stats(values: Sequence[float]) -> dict[str, Any]:
    v = [float(x) for x in values]
    mean = sum(v) / len(v) if v else float("nan")
    std = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else float("nan")
    return {"values": v, "mean": mean, "std": std, "min": min(v) if v else float("nan"),
            "max": max(v) if v else float("nan")}


def decide(models: dict[str, Sequence[float]], expect: Sequence[str], *, better: str, baselines: dict[str, float],
           margin: float, metric: str, min_seeds: int = 3) -> dict[str, Any]:
    """The course's one rule for comparing trained models; returns the evidence with its verdict and why.

    models: per model, its metric over seeds (one value per seed). expect: the paper's claim as an order, best
    first (e.g. ["conv", "fc"]: conv is better than fc). better: "lower" or "higher" is better for `metric`.
    baselines: the trivial baselines of the same metric (zero output, mean spectrum, always hold, ...): every
    model must beat the best of them by `margin` (in the metric's units). The verdict is
    - inconclusive when a model has fewer than min_seeds seeds, when a model does not beat the baselines by the
      margin (it has not learned enough to be compared), or when two neighbours in `expect` have overlapping
      ranges over seeds (the difference lies within the seed spread);
    - reproduced when every neighbour pair is ordered as expected, not reproduced when every pair is reversed,
      partly otherwise.

    Notebook: 00_start_here
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    if len(expect) < 2 or any(m not in models for m in expect):
        raise ValueError(f"expect must name at least two of the models {sorted(models)}, got {list(expect)}")
    if not baselines:
        raise ValueError("decide: give at least one trivial baseline; a trained model means nothing without one")
    sign = 1.0 if better == "lower" else -1.0  # sign * value: smaller is better
    stats = {name: _stats(v) for name, v in models.items()}
    best_base_name = min(baselines, key=lambda k: sign * float(baselines[k]))
    best_base = float(baselines[best_base_name])
    out = {"metric": metric, "better": better, "expect": list(expect), "models": stats,
           "baselines": {k: float(v) for k, v in baselines.items()}, "margin": float(margin),
           "min_seeds": int(min_seeds)}

    def done(v: str, why: str) -> dict[str, Any]:
        return {**out, "verdict": v, "why": why}

    few = [n for n in expect if len(stats[n]["values"]) < min_seeds]
    if few:
        return done("inconclusive", f"{', '.join(few)}: fewer than {min_seeds} seeds "
                                    f"({', '.join(str(len(stats[n]['values'])) for n in few)})")
    weak = [n for n in expect if not sign * stats[n]["mean"] <= sign * best_base - margin]
    if weak:
        means = ", ".join(f"{stats[n]['mean']:.4g}" for n in weak)
        return done("inconclusive", f"{', '.join(weak)} does not beat the {best_base_name} baseline ({best_base:.4g}) "
                                    f"by {margin:g} ({metric} {means})")
    ordered, reversed_, overlap = 0, 0, []
    for a, b in zip(expect[:-1], expect[1:]):
        sa, sb = stats[a], stats[b]
        a_worst, b_best = (sa["max"], sb["min"]) if better == "lower" else (sa["min"], sb["max"])
        a_best, b_worst = (sa["min"], sb["max"]) if better == "lower" else (sa["max"], sb["min"])
        if sign * a_worst < sign * b_best:
            ordered += 1
        elif sign * b_worst < sign * a_best:
            reversed_ += 1
        else:
            overlap.append(f"{a} {sa['min']:.4g}..{sa['max']:.4g} vs {b} {sb['min']:.4g}..{sb['max']:.4g}")
    if overlap:
        return done("inconclusive", f"the ranges over seeds overlap ({'; '.join(overlap)})")
    pairs = len(expect) - 1
    summary = ", ".join(f"{n} {stats[n]['mean']:.4g} +- {stats[n]['std']:.2g}" for n in expect)
    if ordered == pairs:
        return done("reproduced", f"{metric}: {summary}")
    if reversed_ == pairs:
        return done("not reproduced", f"the order is reversed ({metric}: {summary})")
    return done("partly", f"{ordered} of {pairs} orderings hold ({metric}: {summary})")


def recheck(decision: dict[str, Any]) -> str:
    """The verdict `decide` gives again from a stored decision's own numbers (a findings file can be re-judged)."""
    return decide({k: v["values"] for k, v in decision["models"].items()}, decision["expect"],
                  better=decision["better"], baselines=decision["baselines"], margin=decision["margin"],
                  metric=decision["metric"], min_seeds=decision["min_seeds"])["verdict"]


def combine(verdicts: Sequence[str]) -> str:
    """One verdict from the verdicts of a claim's parts: any inconclusive part makes the whole inconclusive."""
    v = list(verdicts)
    if not v or any(x not in VERDICTS["paper"] for x in v):
        raise ValueError(f"combine: paper verdicts expected, got {v}")
    if "inconclusive" in v:
        return "inconclusive"
    if all(x == "reproduced" for x in v):
        return "reproduced"
    if all(x == "not reproduced" for x in v):
        return "not reproduced"
    return "partly"


def why(decisions: Sequence[dict[str, Any]], note: str = "") -> str | None:
    """A claim's why from its decisions: None when they combine to reproduced, else each distinct reason
    joined by '; ', then `note` (what this run's scale leaves out, as the chapter says it).

    Notebook: 02_fc_vs_conv_autoencoders
    """
    if combine([d["verdict"] for d in decisions]) == "reproduced":
        return None
    return "; ".join(dict.fromkeys(d["why"] for d in decisions)) + note  # each reason once


def spread(values: Sequence[float], fmt: str = ".3g") -> str:
    """Mean ± sample standard deviation over seeds, as text ('0.431 ± 0.027'); one value says '(1 seed)'.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("spread: no values")
    return f"{v.mean():{fmt}} ± {v.std(ddof=1):.2g}" if v.size > 1 else f"{v.mean():{fmt}} (1 seed)"


def results_dir(profile: str) -> Path:
    """Build/results/<profile>/: where notebooks write their findings."""
    return build_root() / "results" / profile


def reference_findings(chapter: str | int, profile: str) -> dict[str, Any] | None:
    """The committed findings of a chapter (notebooks/results/<profile>/<NN>.json), or None where there are none.

    Notebook: 09_hierarchical_diffusion
    """
    from .context import repo_root

    path = repo_root() / "notebooks" / "results" / str(profile) / f"{int(chapter):02d}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}). Restore it with `git checkout -- {path}`.") from None


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
        self.data: dict[str, str] = {}  # where each dataset came from: "built here (...)" or "user: <path>"
        self._t0 = time.perf_counter()

    def claim(self, id: str, paper: str, measured: Any, verdict: str | None = None, why: str | None = None, *,
              summary: str, kind: str = "paper", trained: bool = False,
              decisions: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """Record one tested claim; re-recording an id replaces it (cells may be re-run).

        kind: "paper" (a paper's claim; verdicts reproduced / partly / not reproduced / inconclusive / not
        tested), "audit" (our critique of a paper: confirmed / not confirmed) or "check" (our own data or code:
        pass / fail). A paper or audit text names its source and marks what the paper states [text], what only
        its code or logs show [code], or our arithmetic on its numbers [derived]. summary: what we measured, in
        at most 160 characters (the README line). trained: the claim compares trained models, so `decisions`
        (the results of `decide`, baselines and seeds included) must back it; the verdict is then computed from
        them (`combine`) and may be left out.

        Notebook: 00_start_here
        """
        if kind not in KINDS:
            raise ValueError(f"claim {id!r}: kind must be one of {KINDS}, got {kind!r}")
        decisions = [dict(d) for d in decisions]
        if trained and not decisions:
            raise ValueError(f"claim {id!r} compares trained models: decide it with results.decide (baselines, seeds)")
        if decisions:
            if kind != "paper":
                raise ValueError(f"claim {id!r}: only paper claims are decided by comparing trained models")
            ruled = combine([d["verdict"] for d in decisions])
            if verdict is not None and verdict != ruled:
                raise ValueError(f"claim {id!r}: the verdict {verdict!r} contradicts the rule's {ruled!r}; "
                                 "let the decisions set it")
            verdict = ruled
            why = why or ("; ".join(d["why"] for d in decisions) if verdict != PASSING[kind] else None)
        if verdict not in VERDICTS[kind]:
            raise ValueError(f"claim {id!r}: a {kind} verdict must be one of {VERDICTS[kind]}, got {verdict!r}")
        if verdict != PASSING[kind] and not why:
            raise ValueError(f"claim {id!r}: a verdict of {verdict!r} needs a `why`")
        if kind != "check" and not PROVENANCE.search(paper):
            raise ValueError(f"claim {id!r}: mark the source of the paper's words: [text], [code] or [derived]")
        if len(paper) > MAX_PAPER or not summary or len(summary) > MAX_SUMMARY:
            raise ValueError(f"claim {id!r}: the paper text (at most {MAX_PAPER} characters, {len(paper)} given) and "
                             f"the summary (1 to {MAX_SUMMARY}, {len(summary or '')} given) must fit the README line")
        entry = {"id": id, "kind": kind, "paper": paper, "summary": summary, "measured": _plain(measured),
                 "verdict": verdict, "trained": bool(trained)}
        if why:
            entry["why"] = why
        if decisions:
            entry["decisions"] = _plain(decisions)
            for d in entry["decisions"]:  # the rounded numbers stored must still give the stored verdict
                if recheck(d) != d["verdict"]:
                    raise ValueError(f"claim {id!r}: rounding the stored numbers changes a decision's verdict")
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
                "data": self.data,
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


# What each verdict means for a student reading a run's takeaways.
MEANING = {
    "reproduced": "the paper's claim holds in this run",
    "partly": "part of the claim holds and part does not (the why says which)",
    "not reproduced": "this run's numbers go against the claim",
    "inconclusive": "this run cannot decide it: a model did not beat its trivial baseline by the margin, there were "
                    "fewer than 3 seeds, or the seeds overlap; a larger profile may decide it",
    "not tested": "this run could not test it (the why says what is missing)",
    "confirmed": "our critique of the paper survives the test",
    "not confirmed": "this run does not support our critique of the paper",
    "pass": "our own data or code behaves as the course relies on",
    "fail": "a check of our own data or code failed: read its why before trusting what builds on it",
}


def load_run(chapter: int | str, profile: str) -> dict[str, Any]:
    """The findings file a chapter's run just wrote: build/results/<profile>/NN.json (clear error when missing)."""
    path = results_dir(profile) / f"{int(chapter):02d}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no findings for chapter {int(chapter):02d} in the {profile} profile; "
                                "run the chapter's findings cell (it calls ctx.findings.save()) first")
    return json.loads(path.read_text())


def takeaways(findings: dict[str, Any], templates: dict[str, str | Callable[[dict[str, Any]], str]]) -> str:
    """Markdown takeaways of a run: a line on the run, what its verdicts mean, then one bullet per claim from its numbers.

    templates: claim id -> a str.format template over the claim's fields (id, verdict, meaning, summary, why,
    measured[...]) and the run's metrics[...], or a function of those fields (a dict) returning the sentence; a
    claim without a template gets its summary. A template for a claim the run did not record, or naming a field
    it lacks, raises (the text would drift from the numbers).

    Notebook: 01_audio_and_midi
    """
    claims = {c["id"]: c for c in findings["claims"]}
    unknown = sorted(set(templates) - set(claims))
    if unknown:
        raise KeyError(f"takeaways: no claim {unknown} in chapter {findings['chapter']}'s findings "
                       f"(it has {sorted(claims)})")
    minutes = findings.get("wall_s", float("nan")) / 60
    lines = [f"This run: the `{findings['profile']}` profile on {findings.get('device', '?')}, seeds "
             f"{findings.get('seeds', [])}, {minutes:.1f} min from setup to findings. Verdicts: "
             f"{_tally_text(tally(findings['claims']))}.", "",
             "What the verdicts mean: " + "; ".join(f"*{v}*: {MEANING[v]}"
                                                     for v in dict.fromkeys(c["verdict"] for c in claims.values())) + ".",
             ""]
    for cid, c in claims.items():
        fields = {"id": cid, "verdict": c["verdict"], "meaning": MEANING[c["verdict"]], "summary": c["summary"],
                  "why": c.get("why") or "", "measured": c["measured"], "metrics": findings.get("metrics", {})}
        template = templates.get(cid, "{summary}.")
        try:
            text = template(fields) if callable(template) else template.format(**fields)
        except (KeyError, IndexError, TypeError) as e:
            raise KeyError(f"takeaways: the template of {cid!r} names {e}, which its findings do not hold") from None
        lines.append(f"- **{cid}** ({c.get('kind', 'paper')}, *{c['verdict']}*). {text}")
    return "\n".join(lines)


def _fmt_measured(m: Any) -> str:
    if isinstance(m, dict):
        return ", ".join(f"{k} = {_fmt_measured(v)}" for k, v in m.items())
    if isinstance(m, float):
        return f"{m:.4g}"
    if isinstance(m, list):
        return "[" + ", ".join(_fmt_measured(v) for v in m[:8]) + (", ..." if len(m) > 8 else "") + "]"
    return str(m)


def _cell(x: Any) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def claims_table(claims: list[dict[str, Any]], chapter: str | None = None) -> str:
    """Markdown tables: the paper and audit claims (paper | we measured | verdict), then the checks apart."""
    lead = "| chapter " if chapter is not None else ""
    rows = [lead + "| claim | kind | paper | we measured | verdict |",
            ("|---" if chapter is not None else "") + "|---|---|---|---|---|"]
    checks = []
    for c in claims:
        kind = c.get("kind", "paper")
        if kind == "check":
            checks.append(c)
            continue
        v = c["verdict"] + (f" ({c['why']})" if c.get("why") else "")
        cells = [c["id"], kind, c["paper"], c.get("summary") or _fmt_measured(c["measured"]), v]
        rows.append((f"| {chapter} " if chapter is not None else "") + "| " + " | ".join(_cell(x) for x in cells) + " |")
    out = "\n".join(rows) if len(rows) > 2 else ""
    if checks:
        lines = ["| check | we measured | result |", "|---|---|---|"]
        lines += [f"| {_cell(c['id'])} | {_cell(c.get('summary', ''))} | {c['verdict']}"
                  + (f" ({_cell(c['why'])})" if c.get("why") else "") + " |" for c in checks]
        out += ("\n\nChecks of our own data and code:\n\n" if out else "") + "\n".join(lines)
    return out


def tally(claims: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Verdict counts per claim kind, e.g. {"paper": {"reproduced": 3, "inconclusive": 2}, "check": {"pass": 4}}."""
    out: dict[str, dict[str, int]] = {}
    for c in claims:
        kind = c.get("kind", "paper")
        out.setdefault(kind, {})
        out[kind][c["verdict"]] = out[kind].get(c["verdict"], 0) + 1
    return out


def _tally_text(t: dict[str, dict[str, int]]) -> str:
    return "; ".join(f"{kind}: " + ", ".join(f"{n} {v}" for v, n in t[kind].items()) for kind in KINDS if kind in t)


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
        all_claims = [c for f in found for c in f["claims"]]
        lines += [f"{len(found)} chapters, total notebook time {total / 60:.1f} min. Verdicts: "
                  f"{_tally_text(tally(all_claims))}. Only `paper` claims are reproductions; `audit` items are "
                  "our critique of a paper, `check`s test our own data and code.", "",
                  "| chapter | device | data | wall time (s) | peak memory (MB) | verdicts |", "|---|---|---|---|---|---|"]
        for f in found:
            data = ", ".join(f"{k}: {v}" for k, v in f.get("data", {}).items()) or "built here"
            lines.append(f"| {f['chapter']} | {f.get('device', '?')} | {_cell(data)} | {f.get('wall_s', float('nan')):.0f} | "
                         f"{f.get('peak_mem_mb', float('nan')):.0f} | {_tally_text(tally(f['claims']))} |")
        for f in found:
            lines += ["", f"## Chapter {f['chapter']}", "", claims_table(f["claims"]), ""]
            lines += ["<details><summary>Everything measured</summary>", ""]
            lines += [f"- **{c['id']}**: {_cell(_fmt_measured(c['measured']))}" for c in f["claims"]]
            lines += ["", "</details>", ""]
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
    """The README results: one line per paper and audit claim, grouped by chapter, then the checks apart.

    Built from the committed reference runs in notebooks/results/<profile>/*.json; a findings file from a run on
    a user's own data (its `data` names a user path) is not a reference run and is left out.
    """
    root = Path(root) if root else repo_root() / "notebooks" / "results"
    claims = ["| profile | chapter | claim | paper | we measured | verdict |", "|---|---|---|---|---|---|"]
    checks = ["| profile | chapter | check | result |", "|---|---|---|---|"]
    for profile in ("cpu", "gpu"):
        for f in load_findings(root / profile):
            if any(str(v).startswith("user") for v in f.get("data", {}).values()):
                continue
            for c in f["claims"]:
                if c.get("kind", "paper") == "check":
                    checks.append(f"| {profile} | {f['chapter']} | {_cell(c['id'])}: {_cell(c.get('summary', ''))} | "
                                  f"{c['verdict']} |")
                else:
                    kind = "" if c.get("kind", "paper") == "paper" else f" ({c['kind']})"
                    paper = c["paper"] if len(c["paper"]) <= MAX_PAPER else c["paper"][:MAX_PAPER - 3] + "..."
                    claims.append(f"| {profile} | {f['chapter']} | {_cell(c['id'])}{kind} | {_cell(paper)} | "
                                  f"{_cell(c.get('summary') or _fmt_measured(c['measured'])[:160])} | {c['verdict']} |")
    if len(claims) == 2 and len(checks) == 2:
        return "No reference runs committed yet."
    out = "\n".join(claims)
    if len(checks) > 2:
        out += "\n\nChecks of the course's own data and code:\n\n" + "\n".join(checks)
    return out


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
