import json
import re
from pathlib import Path

import pytest
import torch

from course_lib import sizes

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTERS = [f"ch{i:02d}" for i in range(10)]


def leaves(d: dict, prefix: str = "") -> dict:
    """{"a.b": value} for every non-dict value of a nested dict."""
    out = {}
    for k, v in d.items():
        out.update(leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_profile_from_env_and_argument(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert sizes.profile_name() == "smoke"
    assert sizes.profile_name(" CPU ") == "cpu"
    monkeypatch.delenv("COURSE_PROFILE")
    assert sizes.profile_name() == ("gpu" if torch.cuda.is_available() else "cpu")


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "laptop")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        sizes.profile_name()
    with pytest.raises(ValueError, match="'laptop'"):
        sizes.resolve()


def test_cfg_attribute_access_nested_and_helpful_error():
    cfg = sizes.Cfg({"a": 1, "b": {"c": 2, "d": {"e": [3]}}})
    assert cfg.a == 1 and cfg.b.c == 2 and cfg.b.d.e == [3]
    assert isinstance(cfg.b, sizes.Cfg) and isinstance(cfg.b.d, sizes.Cfg)
    with pytest.raises(AttributeError, match="known: \\['a', 'b'\\]"):
        cfg.missing
    with pytest.raises(AttributeError, match="no setting 'x'; known: \\['c', 'd'\\]"):
        cfg.b.x


def test_merge_is_deep_and_replaces_everything_but_blocks():
    base = {"lr": 1e-4, "widths": [16, 32, 64], "spec": {"n_fft": 1500, "hop": 250, "inner": {"a": 1, "b": 2}}}
    out = sizes.merge(base, {"widths": [4], "spec": {"hop": 64, "inner": {"b": 3}}})
    assert out == {"lr": 1e-4, "widths": [4], "spec": {"n_fft": 1500, "hop": 64, "inner": {"a": 1, "b": 3}}}
    assert list(out["spec"]) == ["n_fft", "hop", "inner"]  # the paper's order, whatever the override's
    assert base["spec"]["hop"] == 250 and base["widths"] == [16, 32, 64]  # the base is left alone
    out["spec"]["inner"]["a"] = 99
    out["widths"].append(8)
    assert base["spec"]["inner"]["a"] == 1 and sizes.merge(base, {}) == base  # and shares nothing with the result


def test_an_override_key_the_paper_lacks_raises():
    base = {"epochs": 10, "spec": {"n_fft": 1500}}
    with pytest.raises(KeyError, match="'epoch'.*typo"):
        sizes.merge(base, {"epoch": 2})
    with pytest.raises(KeyError, match="'spec.nfft'"):
        sizes.merge(base, {"spec": {"nfft": 256}})
    with pytest.raises(TypeError, match="'spec'"):
        sizes.merge(base, {"spec": 3})
    with pytest.raises(TypeError, match="'epochs'"):
        sizes.merge(base, {"epochs": {"n": 3}})


def test_a_typo_in_the_overrides_fails_the_lookup(monkeypatch):
    monkeypatch.setitem(sizes.OVERRIDES, "cpu", {**sizes.OVERRIDES["cpu"], "ch02": {"epoch": 3}})
    with pytest.raises(KeyError, match="'cpu.ch02.epoch'"):
        sizes.chapter_sizes(2, "cpu")
    assert sizes.chapter_sizes(2, "smoke").epochs == 2  # other profiles are unaffected


def test_overrides_exist_for_every_profile_and_hold_only_what_differs():
    assert set(sizes.OVERRIDES) == set(sizes.PROFILES)
    paper = leaves(sizes.PAPER)
    for profile, override in sizes.OVERRIDES.items():
        for key, value in leaves(override).items():
            assert key in paper and value != paper[key], f"{profile}: {key} repeats the paper's value {value!r}"


def test_every_profile_resolves_every_chapter_with_the_papers_settings():
    paper_keys = set(leaves(sizes.PAPER))
    for profile in sizes.PROFILES:
        everything = sizes.resolve(profile)
        assert list(everything) == ["seeds", "data", *CHAPTERS]
        assert set(leaves(everything)) == paper_keys, profile  # same settings, only the values differ
        for ch in CHAPTERS:
            assert sizes.chapter_sizes(ch, profile) == everything[ch]
        assert sizes.data_sizes(profile) == everything["data"]


def test_profile_values_and_nested_access():
    smoke, cpu, gpu = (sizes.resolve(p) for p in sizes.PROFILES)
    assert smoke["seeds"] == [0] and cpu["seeds"] == gpu["seeds"] == [0, 1, 2]
    assert gpu["ch02"]["epochs"] == 150 and sizes.PAPER["ch02"]["epochs"] == 500 and cpu["ch02"]["lr"] == 1e-3
    assert sizes.chapter_sizes(5, "smoke").spec.n_fft == 256 and sizes.chapter_sizes(5, "gpu").spec.n_fft == 1500
    assert sizes.chapter_sizes(5, "cpu").spec.batch_size == 32 and sizes.chapter_sizes(5, "cpu").spec.lr == 1e-3
    assert sizes.chapter_sizes(9, "cpu").oracle == {"epochs": 15, "channels": [32, 64], "lr": 1e-3}
    ch03 = sizes.chapter_sizes(3, "cpu")
    assert ch03.speed == {"batch": 2, "steps": 1, "channels": [16, 32, 64], "latent": 200}  # channels from the paper
    assert sizes.chapter_sizes(8, "smoke").toy.kind == "ring" and sizes.chapter_sizes(8, "smoke").notes.steps == [4, 8]


def test_profiles_grow():
    s, c, g = (sizes.data_sizes(p) for p in sizes.PROFILES)
    assert s.notes <= 200 and 1000 <= c.notes < g.notes and g.notes >= 10000  # gpu: sized by bench --plan
    assert s.tunes < c.tunes <= g.tunes and s.clips < c.clips < g.clips


def test_lookups_follow_the_environment_and_hand_out_copies(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert sizes.chapter_sizes(2) == sizes.chapter_sizes(2, "smoke") and sizes.data_sizes().notes == 160
    cfg = sizes.chapter_sizes(2)
    cfg["fc"]["hidden"].append(1)
    cfg["epochs"] = 99
    assert sizes.chapter_sizes(2).fc.hidden == [120, 100] and sizes.chapter_sizes(2).epochs == 2
    assert sizes.PAPER["ch02"]["fc"]["hidden"] == [9800, 6500]


@pytest.mark.parametrize("profile", sizes.PROFILES)
def test_ch02_conv_is_the_larger_model_as_in_the_paper(profile):
    """Paper 001 compares a 698M-parameter conv model with a 430M FC one (1.63); every profile keeps that order."""
    from course_lib.models import autoencoders as ae

    cfg = sizes.chapter_sizes(2, profile)
    with torch.device("meta"):
        fc, conv = ae.build("fc", **cfg.fc), ae.build("conv", **cfg.conv)
    ratio = ae.count_parameters(conv) / ae.count_parameters(fc)
    assert 1.4 < ratio < 1.9, f"{profile}: conv/FC parameters {ratio:.2f}, the paper's is 1.63"
    assert cfg.fc.latent == cfg.conv.latent  # one latent size for both models, as in the paper


@pytest.mark.parametrize("chapter", [2, "2", "02", "ch02", " CH02 "])
def test_chapter_names(chapter):
    assert sizes.chapter_key(chapter) == "ch02"
    assert sizes.chapter_sizes(chapter, "smoke") == sizes.resolve("smoke")["ch02"]


def test_bad_chapters_raise():
    for bad in ("two", "ch", -1, True, 2.0, None):
        with pytest.raises(ValueError, match="chapter"):
            sizes.chapter_key(bad)
    with pytest.raises(KeyError, match="no sizes for chapter 10; known: \\['ch00'"):
        sizes.chapter_sizes(10, "smoke")


def test_every_key_reads_as_an_attribute():
    """A key named like a dict method (`items`, `keys`) would be shadowed: `cfg.items` is the method."""
    for profile in sizes.PROFILES:
        for key in leaves(sizes.resolve(profile)):
            for part in key.split("."):
                assert part.isidentifier() and not hasattr(dict, part), f"{profile}: {key}"


def _code(nb: Path) -> str:
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


CHAIN = re.compile(r"\b(ctx\.cfg|cfg|ctx\.data)((?:\.[A-Za-z_]\w*)+)(\s*\()?")


def _reads(code: str) -> set[tuple[str, tuple[str, ...]]]:
    """(block, attribute chain) of every `cfg.a.b`, `ctx.cfg.a` and `ctx.data.a` in the code; method calls dropped."""
    out = set()
    for m in CHAIN.finditer(code):
        parts = tuple(m.group(2)[1:].split("."))
        if m.group(3):  # cfg.spec.items(): the last name is a method
            parts = parts[:-1]
        if parts:
            out.add(("data" if m.group(1) == "ctx.data" else "cfg", parts))
    return out


def test_the_chain_parser():
    code = "x = cfg.spec.n_fft + ctx.cfg.epochs\ny = ctx.data.notes; cfg.toy.steps.index(2); dict(cfg)\nfoo.cfg"
    assert _reads(code) == {("cfg", ("spec", "n_fft")), ("cfg", ("epochs",)), ("data", ("notes",)),
                            ("cfg", ("toy", "steps"))}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_setting_a_notebook_reads_exists_in_every_profile(nb):
    reads = _reads(_code(nb))
    chapter = f"ch{nb.name[:2]}"
    for profile in sizes.PROFILES:
        everything = sizes.resolve(profile)
        for block, parts in reads:
            value = everything["data"] if block == "data" else everything[chapter]
            for i, part in enumerate(parts):
                if not isinstance(value, dict):
                    break  # an attribute of the value itself (e.g. a list's method)
                assert part in value, f"{nb.name} reads {block}.{'.'.join(parts[:i + 1])}, missing in {profile}"
                value = value[part]


def test_the_notebooks_are_found():
    assert len(NOTEBOOKS) == 10 and all(f"ch{nb.name[:2]}" in CHAPTERS for nb in NOTEBOOKS)
