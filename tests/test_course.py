import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib import course, synth
from course_lib.context import repo_root

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))
EXPECTED = ["00_start_here", "01_audio_and_midi", "02_fc_vs_conv_autoencoders", "03_spectrogram_autoencoders",
            "04_variational_autoencoders", "05_kl_annealing", "06_lstm_vae_melodies",
            "07_transformer_vae_automation", "08_diffusion_basics", "09_hierarchical_diffusion"]


def test_notebooks_are_committed_without_outputs():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
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
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert f"course_lib.setup(chapter={int(path.name[:2])})" in code[0], f"{path.name}: first code cell must call setup"
        assert any("findings.save()" in c for c in code), f"{path.name}: no Findings saved"
        n_checks = sum("exercises.check_" in c and "assert" not in c for c in code)
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


def test_run_notebook_kernel_is_quiet(tmp_path, capfd):
    nb = new_notebook(cells=[new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "12_quiet.ipynb")
    ok, _, _ = course.run_notebook(tmp_path / "12_quiet.ipynb", "smoke", tmp_path / "out", timeout=120)
    captured = capfd.readouterr()
    assert ok and "without encryption" not in captured.err + captured.out
    assert nbformat.read(tmp_path / "out" / "12_quiet.ipynb", as_version=4).cells[0].outputs[0]["text"] == "42\n"
