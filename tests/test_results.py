import json

import matplotlib.pyplot as plt
import pytest

from course_lib import results as R


def make(profile="cpu", chapter="01"):
    return R.Findings(chapter, profile, "cpu (2 threads)", [0, 1, 2])


def test_verdict_is_computed():
    assert R.verdict(True) == "reproduced"
    assert R.verdict(False) == "not reproduced"
    assert R.verdict(False, partly=True) == "partly"


def test_findings_file_has_the_design_shape(isolated):
    f = make()
    f.claim("stft_round_trip", "max abs error < 1e-5", {"max_abs_err": 3.2e-7}, "reproduced")
    f.claim("griffin_lim_quality", "improves", {"sc": [0.9, 0.4]}, "partly", why="flat after 32 iterations")
    f.metric("notes", 24)
    path = f.save()
    assert path == isolated / "build" / "results" / "cpu" / "01.json"
    d = json.loads(path.read_text())
    assert set(d) >= {"chapter", "profile", "device", "seeds", "wall_s", "peak_mem_mb", "claims", "metrics"}
    assert d["chapter"] == "01" and d["seeds"] == [0, 1, 2] and d["wall_s"] >= 0 and d["peak_mem_mb"] > 0
    assert [c["id"] for c in d["claims"]] == ["stft_round_trip", "griffin_lim_quality"]
    assert d["claims"][1]["why"] == "flat after 32 iterations"
    assert d["metrics"] == {"notes": 24}


def test_claims_are_validated_and_replaced(isolated):
    f = make()
    with pytest.raises(ValueError, match="verdict must be one of"):
        f.claim("x", "p", 1, "sort of")
    with pytest.raises(ValueError, match="needs a `why`"):
        f.claim("x", "p", 1, "not reproduced")
    f.claim("x", "p", 1, "reproduced")
    f.claim("x", "p", 2, "reproduced")  # re-running a cell replaces the claim
    assert len(f.claims) == 1 and f.claims[0]["measured"] == 2


def test_numbers_are_made_plain(isolated):
    import numpy as np
    import torch

    f = make()
    f.claim("x", "p", {"t": torch.tensor(0.123456789), "n": np.float32(2.5), "l": np.arange(3)}, "reproduced")
    assert f.claims[0]["measured"] == {"t": 0.123457, "n": 2.5, "l": [0, 1, 2]}
    json.dumps(f.to_dict())


def test_report_gathers_findings_and_figures(isolated):
    for ch in ("00", "01"):
        f = make(chapter=ch)
        f.claim(f"claim_{ch}", "paper", {"v": 1.0}, "reproduced")
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        f.figure("curve", fig)
        plt.close(fig)
        f.save()
    (isolated / "build" / "results" / "cpu" / "02.json").write_text("{broken")
    out = R.write_report("cpu")
    md = out.read_text()
    assert "## Chapter 00" in md and "## Chapter 01" in md and "claim_01" in md
    assert "![figures/01_curve.png](results/cpu/figures/01_curve.png)" in md
    assert (out.parent / "results" / "cpu" / "figures" / "01_curve.png").exists()
    html = out.with_suffix(".html").read_text()
    assert "<table>" in html and "claim_00" in html


def test_figure_names_are_checked(isolated):
    with pytest.raises(ValueError, match="letters"):
        make().figure("bad name/x", None)


def test_readme_table_is_built_from_committed_results(tmp_path):
    root = tmp_path / "results"
    (root / "cpu").mkdir(parents=True)
    f = make()
    f.claim("rfft_interleave_round_trip", "exact", {"err": 1e-7}, "reproduced")
    f.save(root / "cpu" / "01.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{R.README_START}\nold\n{R.README_END}\noutro\n")
    assert R.update_readme(readme, root)
    text = readme.read_text()
    assert "rfft_interleave_round_trip" in text and "old" not in text and text.endswith("outro\n")
    assert not R.update_readme(readme, root)  # idempotent
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        R.update_readme(readme, root)
