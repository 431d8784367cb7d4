import json
import re
from pathlib import Path



import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib import course, synth
from course_lib.context import repo_root

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((repo_root() / "notebooks" / "solutions").glob("*.ipynb"))
EXPECTED = ["00_start_here", "01_audio_and_midi", "02_fc_vs_conv_autoencoders", "03_spectrogram_autoencoders",
            "04_variational_autoencoders", "05_kl_annealing", "06_lstm_vae_melodies",
            "07_transformer_vae_automation", "08_diffusion_basics", "09_hierarchical_diffusion"]


def solutions_notebook(chapter: Path) -> Path:
    """notebooks/solutions/NN_solutions.ipynb of a chapter notebook."""
    return chapter.parent / "solutions" / f"{chapter.name[:2]}_solutions.ipynb"


def test_notebooks_are_committed_without_outputs():
    assert NOTEBOOKS and SOLUTIONS, "no notebooks found"
    for path in NOTEBOOKS + SOLUTIONS:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), f"{path.name} has stored outputs"


def test_notebooks_follow_the_course_conventions():
    names = [p.stem for p in NOTEBOOKS]
    for name in EXPECTED:
        assert name in names
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c.source for c in nb.cells if c.cell_type == "code" and c.get("id") != course.COLAB_SETUP_ID]
        assert f"course_lib.setup(chapter={int(path.name[:2])})" in code[0], f"{path.name}: first code cell must call setup"
        assert any("findings.save()" in c for c in code), f"{path.name}: no Findings saved"
        n_checks = sum("exercises.check_" in c and "assert" not in c for c in code)
        if not solutions_notebook(path).exists():  # a chapter not yet moved to a solutions notebook (09)
            n_solutions = sum("solution" in c.metadata.get("tags", []) for c in nb.cells)
            assert n_solutions == n_checks, f"{path.name}: every exercise needs a hidden solution cell"
        if path.name[:2] != "00":
            assert n_checks >= 3, f"{path.name}: at least three exercises"


def test_notebooks_are_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in course.notebook_paths()]
    assert numbers == list(range(len(numbers)))
    assert [p.name[:2] for p in course.notebook_paths(["1"])] == ["01"]


def test_environment_check_names_a_fix_for_everything_missing(isolated, monkeypatch):
    monkeypatch.setattr(synth, "fluidsynth_available", lambda: False)
    rows = {r["check"]: r for r in course.check_environment("smoke")}
    assert not rows["FluidSynth"]["ok"] and "apt-get install" in rows["FluidSynth"]["fix"]
    assert not rows["data: notes"]["ok"] and "make data PROFILE=smoke" in rows["data: notes"]["fix"]
    assert rows["Python"]["ok"] and rows["torch + torchaudio"]["ok"] and rows["soundfont"]["ok"]
    table = course.environment_table(list(rows.values()))
    assert "| FluidSynth | MISSING |" in table


def test_run_notebook_saves_the_executed_copy_and_reports_errors(tmp_path):
    good = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("import os\nprint(os.environ['COURSE_PROFILE'])")])
    bad = new_notebook(cells=[new_code_cell("1 / 0")])
    for name, nb in (("10_good.ipynb", good), ("11_bad.ipynb", bad)):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / name)
    out = tmp_path / "out"
    ok, secs, err = course.run_notebook(tmp_path / "10_good.ipynb", "smoke", out, timeout=120)
    assert ok and secs > 0 and err == ""
    executed = nbformat.read(out / "10_good.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"].strip() == "smoke"
    ok, _, err = course.run_notebook(tmp_path / "11_bad.ipynb", "smoke", out, timeout=120)
    assert not ok and "ZeroDivisionError" in err
    assert (out / "11_bad.ipynb").exists()


def test_reference_refuses_smoke():
    with pytest.raises(SystemExit, match="reference"):
        course.reference("smoke")


# chapters whose solutions live in notebooks/solutions/
MOVED = NOTEBOOKS


def test_every_solutions_notebook_belongs_to_a_chapter():
    assert sorted(p.name[:2] for p in SOLUTIONS) == sorted({p.name[:2] for p in SOLUTIONS})
    assert {p.name[:2] for p in SOLUTIONS} <= {p.name[:2] for p in NOTEBOOKS}
    assert all(p.name == f"{p.name[:2]}_solutions.ipynb" for p in SOLUTIONS)


@pytest.mark.parametrize("path", MOVED, ids=[p.stem for p in MOVED])
def test_chapter_solutions_live_in_a_notebook_any_viewer_shows(path):
    nb = nbformat.read(path, as_version=4)
    sol_path = solutions_notebook(path)
    assert sol_path.exists(), f"{path.name}: no {sol_path.relative_to(path.parent)}"
    for cell in nb.cells:  # GitHub, VS Code and Colab ignore JupyterLab's hidden-source flag
        assert not cell.metadata.get("jupyter", {}).get("source_hidden"), f"{path.name}: a hidden-source cell"
        assert "solution" not in cell.metadata.get("tags", []), f"{path.name}: a solution cell in the chapter"
        assert "_solution(" not in cell.source, f"{path.name}: a solution function in the chapter"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert f"](solutions/{sol_path.name})" in text, f"{path.name}: no link to its solutions notebook"


@pytest.mark.parametrize("path", MOVED, ids=[p.stem for p in MOVED])
def test_every_exercise_has_a_checked_solution(path):
    chapter_code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    sol = nbformat.read(solutions_notebook(path), as_version=4)
    sol_code = [c.source for c in sol.cells if c.cell_type == "code"]
    assert f"course_lib.setup(chapter={int(path.name[:2])})" in sol_code[0]
    asked = set(re.findall(r"exercises\.(check_ch\d\d_\w+)\(", chapter_code))
    module = getattr(__import__("course_lib.exercises", fromlist=["x"]), f"ch{path.name[:2]}")
    assert asked == {n for n in vars(module) if n.startswith("check_")}, f"{path.name}: a check is never asked"
    solved = set(re.findall(r"assert exercises\.(check_ch\d\d_\w+)\(\w+_solution\b", "\n".join(sol_code)))
    assert solved == asked, f"{path.name}: exercises without a checked solution: {sorted(asked - solved)}"


@pytest.mark.parametrize("path", [p for p in MOVED if p.name[:2] != "00"], ids=lambda p: p.stem)
def test_every_chapter_has_an_open_ended_exercise_with_a_discussion(path):
    nb = nbformat.read(path, as_version=4)
    asked = [c.source for c in nb.cells if c.cell_type == "markdown" and "(open-ended)" in c.source]
    assert asked, f"{path.name}: no open-ended exercise"
    exercise = re.search(r"\*\*(Exercise [\d.]+) \(open-ended\)", asked[0]).group(1)
    findings = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## ")
                    and "we find" in c.source.splitlines()[0])
    assert all(i < findings for i, c in enumerate(nb.cells) if c.source in asked), f"{path.name}: open-ended exercise after findings"
    sol = nbformat.read(solutions_notebook(path), as_version=4).cells
    start = next(i for i, c in enumerate(sol) if c.cell_type == "markdown" and f"{exercise} (open-ended)" in c.source)
    after = sol[start + 1:]
    assert any(c.cell_type == "code" and "claims[" in c.source for c in after), f"{path.name}: the discussion reads no findings"
    discussion = [c.source for c in after if c.cell_type == "markdown" and c.source.startswith("**Discussion.**")]
    assert discussion and len(discussion[0].split()) > 150, f"{path.name}: {exercise} has no worked discussion"


def test_run_notebook_kernel_is_quiet(tmp_path, capfd, monkeypatch):
    nb = new_notebook(cells=[new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "12_quiet.ipynb")
    managers, make = [], course._kernel_manager
    monkeypatch.setattr(course, "_kernel_manager", lambda: managers.append(make()) or managers[-1])
    ok, _, _ = course.run_notebook(tmp_path / "12_quiet.ipynb", "smoke", tmp_path / "out", timeout=120)
    captured = capfd.readouterr()
    assert ok and "without encryption" not in captured.err + captured.out
    # stopped when its notebook is done, not left to warn "Parent appears to have exited" when make course ends
    assert len(managers) == 1 and not managers[0].is_alive()
    assert nbformat.read(tmp_path / "out" / "12_quiet.ipynb", as_version=4).cells[0].outputs[0]["text"] == "42\n"


def test_every_notebook_opens_with_the_colab_badge_and_setup_cell():
    stale = [p.name for p in course.stamp_colab(check=True)]
    assert not stale, f"run: python -m course_lib.course colab  (stale: {stale})"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        badge, setup = nb.cells[0], nb.cells[1]
        assert course.colab_url(path.name) in badge.source and badge.source.count("colab-badge.svg") == 1
        assert setup.cell_type == "code" and '"google.colab" in sys.modules' in setup.source
        assert "find_spec(\"course_lib\") is None" in setup.source and "libfluidsynth3" in setup.source
        assert nb.cells[2].cell_type == "markdown" and nb.cells[2].source.startswith("# ")  # the title comes next


def test_colab_setup_cell_installs_only_in_colab_without_course_lib(monkeypatch, tmp_path):
    import importlib.util
    import subprocess
    import sys
    import types

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.setattr("os.chdir", lambda p: calls.append(["chdir", p]))
    cell = "".join(course.colab_cells("00_start_here.ipynb")[1]["source"])
    exec(cell, {})  # here: not Colab
    assert calls == []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(cell, {})  # Colab, but course_lib is importable: nothing to do
    assert calls == []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "course_lib" else real(n, *a))
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(cell, {})
    assert calls[0][:2] == ["git", "clone"] and "libfluidsynth3" in calls[1]
    assert calls[2][1:5] == ["-m", "pip", "install", "-q"] and calls[3] == ["chdir", "/content/course/notebooks"]


def test_stamp_colab_is_idempotent_and_follows_the_configured_repository(tmp_path, monkeypatch):
    nb = new_notebook(cells=[new_markdown_cell("# 10 title"), new_code_cell("x = 1")])
    path = tmp_path / "10_t.ipynb"
    nbformat.write(nb, path)
    assert course.stamp_colab([path]) == [path] and course.stamp_colab([path]) == []
    stamped = nbformat.read(path, as_version=4)
    assert [c.get("id") for c in stamped.cells[:2]] == [course.COLAB_BADGE_ID, course.COLAB_SETUP_ID]
    assert [c.source for c in stamped.cells[2:]] == ["# 10 title", "x = 1"]
    monkeypatch.setattr(course, "repository", lambda: ("https://github.com/someone/fork", "dev"))
    assert course.stamp_colab([path], check=True) == [path]
    course.stamp_colab([path])
    again = nbformat.read(path, as_version=4)
    assert len(again.cells) == 4 and "github/someone/fork/blob/dev/notebooks/10_t.ipynb" in again.cells[0].source
    assert '"--branch", "dev", "https://github.com/someone/fork"' in again.cells[1].source


def test_repository_is_configured_once():
    url, branch = course.repository()
    assert url.startswith("https://github.com/") and branch
    assert course.colab_url("05_kl_annealing.ipynb").endswith(f"/blob/{branch}/notebooks/05_kl_annealing.ipynb")


# ------------------------------------------------------------------------------------------------ map, notation, time

def _block(text: str, name: str) -> str:
    assert text.count(f"<!-- {name}:start -->") == 1 and text.count(f"<!-- {name}:end -->") == 1, name
    return text.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0].strip()


def _markdown(path) -> str:
    return "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def test_course_map_is_the_same_in_chapter_00_and_the_readme_and_points_backwards():
    readme = (repo_root() / "README.md").read_text()
    ch00 = _markdown(repo_root() / "notebooks" / "00_start_here.ipynb")
    assert _block(readme, "map") == _block(ch00, "map") == course.course_map()
    assert sorted(course.COURSE_MAP) == [int(p.name[:2]) for p in course.notebook_paths()]
    for ch, (_, needs, ideas) in course.COURSE_MAP.items():
        assert all(n < ch for n in needs), f"chapter {ch} needs a later chapter"
        assert all(f"({n:02d})" in ideas for n in needs), f"chapter {ch}: say what it takes from each chapter it needs"
    assert "| 05 KL annealing | 01, 04 |" in course.course_map()


def test_notation_table_is_one_table_in_chapter_00_and_the_readme():
    readme = (repo_root() / "README.md").read_text()
    ch00 = _markdown(repo_root() / "notebooks" / "00_start_here.ipynb")
    table = _block(readme, "notation")
    assert table == _block(ch00, "notation")
    symbols = [row.split("|")[1].strip() for row in table.splitlines()[2:]]
    assert len(symbols) == len(set(symbols)), "a symbol listed twice"
    for distinct in (r"$\beta_\text{KL}$", r"$\beta_t$", "$(b_1, b_2)$", r"$\sigma_\phi$", "$T$", "$L$"):
        assert any(distinct in s for s in symbols), distinct


def _fake_repo(tmp_path, words=450, cpu=None, gpu=None):
    nb = new_notebook(cells=[new_markdown_cell(" ".join(["word"] * (words - 5))), new_code_cell("x = 1 + 2 + 3"),
                             new_markdown_cell("five more words right here")])
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "03_x.ipynb")
    for profile, wall in (("cpu", cpu), ("gpu", gpu)):
        if wall is not None:
            (tmp_path / "notebooks" / "results" / profile).mkdir(parents=True)
            (tmp_path / "notebooks" / "results" / profile / "03.json").write_text(
                json.dumps({"chapter": "03", "claims": [], "wall_s": wall, "device": f"{profile} box"}))
    return tmp_path


def test_chapter_time_counts_prose_words_and_reads_the_committed_runs(tmp_path):
    root = _fake_repo(tmp_path, words=450, cpu=413.0)
    t = course.chapter_time(3, root)
    assert t["words"] == 450 and t["reading_min"] == 3  # 450 words at 200 a minute, rounded up; code not counted
    assert t["compute"] == {"cpu": {"wall_s": 413.0, "device": "cpu box"}, "gpu": None}
    note = course.time_note(3, root)
    assert "about 3 min (450 words" in note and "`cpu` 6.9 min on cpu box" in note and "`gpu` not yet measured" in note
    with pytest.raises(ValueError, match="chapter 4: expected one notebook"):
        course.chapter_time(4, root)


def test_chapter_time_of_this_course_matches_its_findings():
    for ch in course.COURSE_MAP:
        t = course.chapter_time(ch)
        ref = json.loads((repo_root() / "notebooks" / "results" / "cpu" / f"{ch:02d}.json").read_text())
        assert t["compute"]["cpu"]["wall_s"] == ref["wall_s"]
        assert t["words"] == course.notebook_words(course.notebook_paths([str(ch)])[0]) > 500


def test_course_times_totals_the_chapters(tmp_path, monkeypatch):
    root = _fake_repo(tmp_path, words=400, cpu=60.0, gpu=30.0)
    monkeypatch.setattr(course, "COURSE_MAP", {3: ("x", (), "")})
    rows = course.course_times(root).splitlines()
    assert rows[0] == "| chapter | reading | compute, `cpu` | compute, `gpu` |"
    assert rows[2] == "| 03_x | 2 min | 60 s | 30 s |" and rows[3] == "| **all** | 2 min | 60 s | 30 s |"
    table = course.course_times()
    assert table.count("\n") == len(course.COURSE_MAP) + 2 and "| **all** |" in table


FRAMED = [p for p in NOTEBOOKS if 1 <= int(p.name[:2]) <= 9]
MENTION = re.compile(r"`([a-z0-9_]+)`(?:, `[a-z0-9_]+`)*(?:,? and `[a-z0-9_]+`)?:\s+\*([a-z ]+)\*")


@pytest.mark.parametrize("path", FRAMED, ids=[p.stem for p in FRAMED])
def test_chapter_opens_with_goals_prerequisites_and_time(path):
    cells = [c for c in nbformat.read(path, as_version=4).cells  # after the Colab badge and setup cell
             if c.get("id") not in (course.COLAB_BADGE_ID, course.COLAB_SETUP_ID)]
    first = cells[0].source
    goals = first.split("**Learning goals**", 1)[1].split("**Prerequisites.**", 1)[0]
    assert 3 <= sum(line.startswith("- ") for line in goals.splitlines()) <= 5, "3-5 learning goals"
    assert re.search(r"\*\*Prerequisites\.\*\* .*chapter \d\d", first, re.I), "prerequisites name the chapters"
    code = [c.source for c in cells if c.cell_type == "code"]
    assert f"time_note({int(path.name[:2])})" in code[1], "the cell after the setup shows the chapter's time"


@pytest.mark.parametrize("path", FRAMED, ids=[p.stem for p in FRAMED])
def test_takeaways_follow_the_findings_and_the_cpu_text_matches_the_reference(path):
    nb = nbformat.read(path, as_version=4)
    src = [c.source for c in nb.cells]
    at = next(i for i, s in enumerate(src) if s.startswith("## Results and takeaways"))
    assert "findings.save()" in src[at - 1] and src[at + 3].startswith("## Further reading")
    assert f"load_run({int(path.name[:2])}, ctx.profile)" in src[at + 1] and "takeaways(run" in src[at + 1]
    text = src[at + 2]
    assert text.startswith("### What the `cpu` reference run shows")
    ref = json.loads((repo_root() / "notebooks" / "results" / "cpu" / f"{path.name[:2]}.json").read_text())
    assert f"`notebooks/results/cpu/{path.name[:2]}.json`" in text
    verdicts = {c["id"]: c["verdict"] for c in ref["claims"]}
    said = {}
    for m in MENTION.finditer(text):
        for cid in re.findall(r"`([a-z0-9_]+)`", m.group(0)):
            said[cid] = m.group(2)
    assert said == verdicts, ("the cpu interpretation no longer matches the committed findings: rewrite it from "
                              f"notebooks/results/cpu/{path.name[:2]}.json (text says {said}, findings say {verdicts})")


@pytest.mark.parametrize("path", NOTEBOOKS + SOLUTIONS, ids=lambda p: p.stem)
def test_no_wrapped_line_turns_into_a_list_item(path):
    # a hard-wrapped sentence whose next line starts with "+ " or "* " renders as a bullet (chapter 04 had one)
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        for prev, line in zip(lines, lines[1:]):
            assert not (line.startswith(("+ ", "* ")) and prev.strip() and not prev.lstrip().startswith(("- ", "* ", "+ "))), \
                f"{path.name}: {line[:40]!r} would render as a list item: rewrap the sentence"
