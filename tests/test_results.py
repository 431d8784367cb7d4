import json

import matplotlib.pyplot as plt
import pytest

from course_lib import results as R

PAPER = "[text] paper 001, Tables 1-2: conv/FC best validation MSE = 0.733"


def make(profile="cpu", chapter="01"):
    return R.Findings(chapter, profile, "cpu (2 threads)", [0, 1, 2])


def test_single_verdict_helpers():
    assert R.verdict(True) == "reproduced" and R.verdict(False) == "not reproduced"
    assert R.verdict(False, partly=True) == "partly"
    assert R.audit(True) == "confirmed" and R.audit(False) == "not confirmed"
    assert R.check(True) == "pass" and R.check(False) == "fail"


# ------------------------------------------------------------------------------------------------ the shared rule

def rule(conv, fc, baseline=30.0, margin=1.0, **kw):
    return R.decide({"conv": conv, "fc": fc}, ["conv", "fc"], better="lower", baselines={"zero output": baseline},
                    margin=margin, metric="val MSE", **kw)


def test_decide_reproduces_when_every_seed_is_ordered():
    d = rule([1.0, 1.1, 1.2], [2.0, 2.1, 2.3])
    assert d["verdict"] == "reproduced" and d["models"]["conv"]["mean"] == pytest.approx(1.1)
    assert d["models"]["fc"]["std"] == pytest.approx(0.152753, rel=1e-5)  # sample std over seeds
    assert rule([2.0, 2.1, 2.3], [1.0, 1.1, 1.2])["verdict"] == "not reproduced"


def test_decide_is_inconclusive_within_the_seed_spread():
    d = rule([1.0, 1.5, 2.05], [2.0, 2.1, 2.3])  # conv's worst seed is worse than fc's best
    assert d["verdict"] == "inconclusive" and "overlap" in d["why"]


def test_decide_is_inconclusive_below_the_baseline_or_with_few_seeds():
    d = rule([29.5, 29.6, 29.4], [40.0, 41.0, 42.0])  # conv beats the zero output by less than the margin
    assert d["verdict"] == "inconclusive" and "does not beat the zero output baseline" in d["why"]
    assert rule([1.0, 1.1], [2.0, 2.1])["verdict"] == "inconclusive"  # two seeds cannot decide
    assert "fewer than 3 seeds" in rule([1.0, 1.1], [2.0, 2.1])["why"]
    assert rule([1.0, 1.1], [2.0, 2.1], min_seeds=2)["verdict"] == "reproduced"


def test_decide_higher_is_better_and_three_models():
    d = R.decide({"a": [0.9, 0.91, 0.92], "b": [0.8, 0.81, 0.82], "c": [0.85, 0.86, 0.87]}, ["a", "b", "c"],
                 better="higher", baselines={"always hold": 0.65, "bigram": 0.7}, margin=0.02, metric="accuracy")
    assert d["verdict"] == "partly" and "1 of 2" in d["why"]  # a > b holds, b > c is reversed
    with pytest.raises(ValueError, match="baseline"):
        R.decide({"a": [1], "b": [2]}, ["a", "b"], better="lower", baselines={}, margin=0, metric="m")
    with pytest.raises(ValueError, match="lower"):
        R.decide({"a": [1], "b": [2]}, ["a", "b"], better="less", baselines={"z": 3}, margin=0, metric="m")


def test_combine_and_recheck():
    assert R.combine(["reproduced", "reproduced"]) == "reproduced"
    assert R.combine(["reproduced", "not reproduced"]) == "partly"
    assert R.combine(["not reproduced", "not reproduced"]) == "not reproduced"
    assert R.combine(["reproduced", "inconclusive"]) == "inconclusive"
    d = rule([1.0, 1.1, 1.2], [2.0, 2.1, 2.3])
    assert R.recheck(d) == "reproduced"
    d["models"]["conv"]["values"] = [3.0, 3.1, 3.2]  # numbers and verdict no longer agree
    assert R.recheck(d) != d["verdict"]


# ---------------------------------------------------------------------------------------------- claims and files

def test_findings_file_has_the_design_shape(isolated):
    f = make()
    f.claim("stft_round_trip", "[derived] paper 002: 62,500 of 64,000 samples come back", {"max_abs_err": 3.2e-7},
            "reproduced", summary="1,500 samples lost with mismatched conventions, none with matching ones")
    f.claim("layout", "", {"n": 3}, R.check(True), kind="check", summary="3 files, all readable")
    f.metric("notes", 24)
    path = f.save()
    assert path == isolated / "build" / "results" / "cpu" / "01.json"
    d = json.loads(path.read_text())
    assert set(d) >= {"chapter", "profile", "device", "seeds", "wall_s", "peak_mem_mb", "claims", "metrics"}
    assert d["chapter"] == "01" and d["seeds"] == [0, 1, 2] and d["wall_s"] >= 0 and d["peak_mem_mb"] > 0
    assert [(c["id"], c["kind"]) for c in d["claims"]] == [("stft_round_trip", "paper"), ("layout", "check")]
    assert d["claims"][0]["summary"].startswith("1,500") and d["metrics"] == {"notes": 24}


def test_claims_are_validated_and_replaced(isolated):
    f = make()
    with pytest.raises(ValueError, match="must be one of"):
        f.claim("x", PAPER, 1, "sort of", summary="s")
    with pytest.raises(ValueError, match="must be one of"):
        f.claim("x", "", 1, "reproduced", kind="check", summary="s")  # a check passes or fails
    with pytest.raises(ValueError, match="kind"):
        f.claim("x", PAPER, 1, "reproduced", kind="hunch", summary="s")
    with pytest.raises(ValueError, match="needs a `why`"):
        f.claim("x", PAPER, 1, "inconclusive", summary="s")
    with pytest.raises(ValueError, match=r"\[text\], \[code\] or \[derived\]"):
        f.claim("x", "paper 001 says so", 1, "reproduced", summary="s")
    with pytest.raises(ValueError, match="README line"):
        f.claim("x", PAPER, 1, "reproduced", summary="s" * 161)
    with pytest.raises(ValueError, match="README line"):
        f.claim("x", PAPER, 1, "reproduced", summary="")
    f.claim("x", PAPER, 1, "reproduced", summary="s")
    f.claim("x", PAPER, 2, "reproduced", summary="s")  # re-running a cell replaces the claim
    assert len(f.claims) == 1 and f.claims[0]["measured"] == 2


def test_decided_claims_take_the_rules_verdict(isolated):
    f = make()
    good, spread = rule([1.0, 1.1, 1.2], [2.0, 2.1, 2.3]), rule([1.0, 1.5, 2.05], [2.0, 2.1, 2.3])
    c = f.claim("conv_lower", PAPER, {"ratio": 0.5}, summary="conv/FC 0.52", decisions=[good])
    assert c["verdict"] == "reproduced" and c["decisions"][0]["verdict"] == "reproduced"
    c = f.claim("conv_lower", PAPER, {"ratio": 0.5}, summary="conv/FC 0.52", decisions=[good, spread])
    assert c["verdict"] == "inconclusive" and "overlap" in c["why"]
    with pytest.raises(ValueError, match="contradicts the rule"):
        f.claim("conv_lower", PAPER, {}, "reproduced", summary="s", decisions=[spread])
    with pytest.raises(ValueError, match="compares trained models"):
        f.claim("conv_lower", PAPER, {}, "reproduced", summary="s", trained=True)
    assert f.claim("conv_lower", PAPER, {}, summary="s", trained=True, decisions=[good])["trained"] is True
    with pytest.raises(ValueError, match="only paper claims"):
        f.claim("a", PAPER, {}, summary="s", kind="audit", decisions=[good])


def test_numbers_are_made_plain(isolated):
    import numpy as np
    import torch

    f = make()
    f.claim("x", PAPER, {"t": torch.tensor(0.123456789), "n": np.float32(2.5), "l": np.arange(3)}, "reproduced",
            summary="s")
    assert f.claims[0]["measured"] == {"t": 0.123457, "n": 2.5, "l": [0, 1, 2]}
    json.dumps(f.to_dict())


def test_report_gathers_findings_tallies_kinds_and_figures(isolated):
    for ch in ("00", "01"):
        f = make(chapter=ch)
        f.claim(f"claim_{ch}", PAPER, {"v": 1.0}, "reproduced", summary=f"summary {ch}")
        f.claim(f"check_{ch}", "", {"v": 1.0}, "pass", kind="check", summary="fine")
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        f.figure("curve", fig)
        plt.close(fig)
        f.save()
    (isolated / "build" / "results" / "cpu" / "02.json").write_text("{broken")
    out = R.write_report("cpu")
    md = out.read_text()
    assert "## Chapter 00" in md and "## Chapter 01" in md and "summary 01" in md
    assert "paper: 2 reproduced; check: 2 pass" in md
    assert "![figures/01_curve.png](results/cpu/figures/01_curve.png)" in md
    assert (out.parent / "results" / "cpu" / "figures" / "01_curve.png").exists()
    html = out.with_suffix(".html").read_text()
    assert "<table>" in html and "claim_00" in html


def test_figure_names_are_checked(isolated):
    with pytest.raises(ValueError, match="letters"):
        make().figure("bad name/x", None)


def test_readme_table_one_line_per_claim_checks_apart(tmp_path):
    root = tmp_path / "results"
    (root / "cpu").mkdir(parents=True)
    f = make()
    f.claim("rfft_interleave_round_trip", PAPER, {"err": [1e-7] * 500}, "reproduced", summary="exact to 3e-7")
    f.claim("notes_layout", "", {"n": 3}, "pass", kind="check", summary="3,000 WAVs match examples.json")
    f.save(root / "cpu" / "01.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{R.README_START}\nold\n{R.README_END}\noutro\n")
    assert R.update_readme(readme, root)
    text = readme.read_text()
    assert "rfft_interleave_round_trip" in text and "old" not in text and text.endswith("outro\n")
    table, checks = text.split("Checks of the course's own data and code:")
    assert "notes_layout" in checks and "notes_layout" not in table
    assert max(len(line) for line in text.splitlines()) < 400  # the 500 numbers stay in the JSON
    assert not R.update_readme(readme, root)  # idempotent
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        R.update_readme(readme, root)


def test_readme_shows_reference_runs_only(tmp_path):
    root = tmp_path / "results"
    (root / "cpu").mkdir(parents=True)
    f = make(chapter="06")
    f.data = {"melodies": "user: /home/me/nottingham"}
    f.claim("mine", PAPER, {}, "reproduced", summary="on my own MIDI")
    f.save(root / "cpu" / "06.json")
    g = make(chapter="05")
    g.data = {"melodies": "built here (cpu sizes: n_tunes=1500)"}
    g.claim("reference", PAPER, {}, "reproduced", summary="on the built melodies")
    g.save(root / "cpu" / "05.json")
    table = R.readme_table(root)
    assert "reference" in table and "mine" not in table
    assert json.loads((root / "cpu" / "06.json").read_text())["data"]["melodies"].startswith("user:")


def test_why_joins_the_reasons_and_the_note_unless_reproduced():
    d_yes = R.decide({"a": [1.0, 1.1, 1.2], "b": [3.0, 3.1, 3.2]}, ["a", "b"], better="lower",
                     baselines={"zero": 10.0}, margin=0.5, metric="mse")
    d_few = R.decide({"a": [1.0], "b": [3.0]}, ["a", "b"], better="lower", baselines={"zero": 10.0}, margin=0.5,
                     metric="mse")
    assert d_yes["verdict"] == "reproduced" and R.why([d_yes], " (scale)") is None
    assert R.why([d_yes, d_few], " (scale)") == f"{d_yes['why']}; {d_few['why']} (scale)"
    assert R.why([d_few]).startswith(d_few["why"]) and "fewer than 3 seeds" in R.why([d_few])
    assert R.why([d_few, d_few], "; x") == d_few["why"] + "; x"  # a reason shared by two decisions is said once


def test_spread_is_mean_and_sample_std():
    assert R.spread([1.0, 2.0, 3.0]) == "2 ± 1"
    assert R.spread([0.5], ".2f") == "0.50 (1 seed)"
    with pytest.raises(ValueError, match="no values"):
        R.spread([])


def test_reference_findings_reads_the_committed_file_or_none(tmp_path, monkeypatch):
    import course_lib.context as context

    folder = tmp_path / "notebooks" / "results" / "cpu"
    folder.mkdir(parents=True)
    (folder / "08.json").write_text(json.dumps({"chapter": "08", "claims": []}))
    (folder / "07.json").write_text("{not json")
    monkeypatch.setattr(context, "repo_root", lambda: tmp_path)
    assert R.reference_findings(8, "cpu") == {"chapter": "08", "claims": []}
    assert R.reference_findings("08", "gpu") is None
    with pytest.raises(ValueError, match=r"07\.json: not valid JSON.*git checkout"):
        R.reference_findings(7, "cpu")


# ------------------------------------------------------------------------------------------------ takeaways

def saved_run(chapter="02"):
    f = make(chapter=chapter)
    f.claim("conv_better", PAPER, {"ratio": 0.81234, "per_seed": [0.8, 0.82]}, "inconclusive", why="seeds overlap",
            summary="conv/FC 0.81")
    f.claim("layout", "NSynth layout", {"files": 12}, "pass", summary="12 files", kind="check")
    f.metric("alias_db", -41.25)
    f.save()
    return f


def test_load_run_reads_what_the_chapter_saved_and_names_the_fix_when_missing(isolated):
    f = saved_run()
    run = R.load_run(2, "cpu")
    assert run["chapter"] == "02" and [c["id"] for c in run["claims"]] == ["conv_better", "layout"]
    assert run["claims"] == f.to_dict()["claims"]
    with pytest.raises(FileNotFoundError, match="chapter 03 .*findings cell"):
        R.load_run("03", "cpu")


def test_takeaways_format_each_claim_from_its_own_numbers(isolated):
    saved_run()
    run = R.load_run(2, "cpu")
    text = R.takeaways(run, {"conv_better": "Ratio {measured[ratio]:.2f}, aliasing {metrics[alias_db]:.0f} dB; {why}.",
                             "layout": lambda c: f"{c['measured']['files'] * 2} halves ({c['verdict']})."})
    lines = text.splitlines()
    assert lines[0].startswith("This run: the `cpu` profile on cpu (2 threads), seeds [0, 1, 2]")
    assert "paper: 1 inconclusive; check: 1 pass" in lines[0]
    assert lines[2] == f"What the verdicts mean: *inconclusive*: {R.MEANING['inconclusive']}; *pass*: {R.MEANING['pass']}."
    assert lines[4] == "- **conv_better** (paper, *inconclusive*). Ratio 0.81, aliasing -41 dB; seeds overlap."
    assert lines[5] == "- **layout** (check, *pass*). 24 halves (pass)."
    run["claims"][0]["measured"]["ratio"] = 0.5  # the text follows the numbers, not the other way round
    assert "Ratio 0.50" in R.takeaways(run, {"conv_better": "Ratio {measured[ratio]:.2f}."})
    default = R.takeaways(run, {})
    assert default.splitlines()[-1] == "- **layout** (check, *pass*). 12 files."


def test_takeaways_refuse_templates_that_would_drift(isolated):
    saved_run()
    run = R.load_run(2, "cpu")
    with pytest.raises(KeyError, match="no claim \\['gone'\\]"):
        R.takeaways(run, {"gone": "{summary}"})
    with pytest.raises(KeyError, match="'conv_better' names 'ratio_mean'"):
        R.takeaways(run, {"conv_better": "{measured[ratio_mean]:.2f}"})
    assert set(R.MEANING) == {v for vs in R.VERDICTS.values() for v in vs}
