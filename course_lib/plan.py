"""How long each chapter takes on one GPU, estimated from its sizes (`python -m course_lib.bench --plan`).

minutes = (training steps x step time + evaluation) + data build + a fixed overhead, per chapter:
- training steps: what the notebook trains, counted from the profile's sizes (`workload`): runs x epochs x
  ceil(train items / batch), every run at its full epoch count (early stopping only shortens it);
- step time: the median measured by `make bench` on that GPU at the same profile when its JSON is given, else the
  roofline lower bound of `bench.roofline` for the named GPU divided by `ROOFLINE_SHARE`, the share of the bound an
  eager step reaches: 20 %, the geometric mean of the four fractions measured on one H100 at the gpu sizes (issue
  20: FC 72 %, conv 59 %, paper AE 6 %, VAE 8 %), so any one model may be 3x off either way. On an H100 those four
  measured medians (`MEASURED_H100_MS`) replace the roofline for their models until a bench JSON exists;
- evaluation: per-epoch validation as `EVAL_SHARE` of the training time, plus sampling (chapters 08, 09: every
  Heun step is two forward passes, one forward pass a third of a training step);
- data build: seconds per item of the committed cpu build (2 workers on 2 cores) times the gpu item counts, divided
  by min(8, cores) / 2 for the builds that use workers (melodies, performances, clips); notes and songs are built in
  one process. Each chapter is charged every dataset it reads, as if run alone on a fresh machine;
- overhead: `OVERHEAD_S` for imports, setup, plots, Griffin-Lim and metrics.
Uncertainty: the step time is the weak term. Without a measured JSON it can be off by 3x either way for a model
far from the convolutional ones (LSTMs: cuDNN kernels, no measurement yet); the data rates come from a shared 2-core
machine and are likely pessimistic by up to 2x on a server core. Treat a chapter within 20 % of the budget as at risk.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from . import bench
from .sizes import resolve

BUDGET_MIN = 10.0
ROOFLINE_SHARE = 0.20
# eager ms per step at the gpu sizes, one NVIDIA H100 80GB HBM3, torch 2.11.0+cu130 (issue 20's `make bench PROFILE=gpu`)
MEASURED_H100_MS = {"ch02_fc": 8.65, "ch02_conv": 17.9, "ch03_paper_ae": 64.2, "ch04_vae": 34.6}
EVAL_SHARE = 0.05
OVERHEAD_S = 60.0
SEGMENT_S = 3.0  # chapter 02: one segment is 3 s of audio
# seconds per item of the committed cpu builds (data/cpu/<kind>.build.json, 2 workers on 2 shared cores); songs per
# second of song. True: the build runs min(8, cores) workers.
BUILD_RATES = {"notes": (26.1 / 3000, False), "melodies": (219.2 / 1500, True), "songs": (128.0 / (160 * 15.0), False),
               "performances": (37.3 / 1200, True), "clips": (108.1 / 1024, True)}
CHAPTER_DATA = {"ch02": ("melodies", "songs"), "ch03": ("notes",), "ch04": ("notes",), "ch05": ("melodies", "notes"),
                "ch06": ("melodies",), "ch07": ("melodies", "performances"), "ch08": ("notes",), "ch09": ("clips",)}


def _steps(items: float, batch: int) -> int:
    return math.ceil(items / batch)


def workload(profile: str = "gpu") -> dict[str, list[tuple[str, float]]]:
    """Per chapter: [(bench case name, training steps at that case's sizes)], counted from the profile's sizes."""
    s = resolve(profile)
    d, c2, c3, c4, c5, c6, c7, c8, c9 = s["data"], *(s[f"ch0{k}"] for k in range(2, 10))
    seg = d["songs"] * bench.TRAIN_SHARE * d["song_seconds"] / SEGMENT_S
    e2 = _steps(seg, c2["batch_size"])
    e3 = _steps(c3["train_notes"], c3["batch_size"])
    paper_area = c3["n_fft"] * (1 + int(c3["seconds"] * bench.NSYNTH_SR) // c3["hop"])
    sweep = sum(n_fft * (1 + int(c3["seconds"] * bench.NSYNTH_SR) // hop) / paper_area for n_fft, hop in c3["sweep"]["stft"])
    e4 = _steps(c4["train_notes"], c4["batch_size"])
    n_setups = 7 + len(c5["warmup_fractions"])  # notebook 05: plain, linear warm-ups, logistic, cyclical, 2 free bits, word dropout, beta 0
    lg = c6["long"]
    e6 = _steps(lg["windows"], c6["batch_size"])
    e7 = _steps(d["performances"] * bench.TRAIN_SHARE, c7["batch_size"])
    e9 = _steps(d["clips"] * bench.TRAIN_SHARE, c9["batch_size"])
    n9 = 2 * len(c9["seeds"]) + 1  # HDAE and multiscale per seed, then multiscale with plain repeat upsampling
    return {
        "ch02": [("ch02_fc", len(c2["seeds"]) * c2["epochs"] * e2),
                 ("ch02_conv", (len(c2["seeds"]) * c2["epochs"] + c2["mrstft"]["epochs"]) * e2)],
        "ch03": [("ch03_paper_ae", (5 + 3 * (len(c3["seeds"]) - 1)) * c3["epochs"] * e3 + c3["speed"]["steps"]
                  + sweep * c3["sweep"]["epochs"] * _steps(c3["sweep"]["notes"], c3["batch_size"]))],
        "ch04": [("ch04_vae", (len(c4["latents"]) * (len(c4["betas"]) + len(c4["seeds"]) - 1) * c4["epochs"]
                               + c4["cvae_epochs"]) * e4)],
        "ch05": [("ch05_melody_vae", n_setups * len(c5["seeds"]) * c5["epochs"] * _steps(c5["train_windows"], c5["batch_size"])),
                 ("ch05_spec_vae", 5 * len(c5["seeds"]) * c5["spec"]["epochs"]
                  * _steps(c5["spec"]["train_notes"], c5["spec"]["batch_size"]))],
        "ch06": [("ch06_flat_2bar", c6["epochs"] * _steps(c6["train_windows"], c6["batch_size"])),
                 ("ch06_flat_long", len(lg["seeds"]) * lg["epochs"] * e6),
                 ("ch06_hier_long", len(lg["seeds"]) * lg["epochs"] * e6)],
        "ch07": [("ch07_transformer_vae", (len(c7["latents"]) + 1) * len(c7["seeds"]) * c7["epochs"] * e7)],
        "ch08": [("ch08_toy_mlp", 2 * c8["toy"]["epochs"] * _steps(c8["toy"]["n"], c8["toy"]["batch_size"])),
                 ("ch08_unet", len(c8["seeds"]) * c8["epochs"] * _steps(c8["notes"]["train"], c8["batch_size"])
                  + _sampling_steps(c8["n_samples"], [c8["main_steps"], c8["ref_steps"], *c8["notes"]["steps"]],
                                    c8["batch_size"]))],
        "ch09": [("ch09_hdae", len(c9["seeds"]) * sum(c9["stage_epochs"]) * e9),
                 ("ch09_multiscale", (n9 - len(c9["seeds"])) * sum(c9["stage_epochs"]) * e9
                  + _sampling_steps(c9["n_eval"] + c9["n_swap"], [c9["decode_steps"]], c9["batch_size"]))],
    }


def _sampling_steps(n: int, heun_steps: list[int], batch: int) -> float:
    """Training-step equivalents of sampling n examples with each Heun step count (2 forward passes a step)."""
    return sum(_steps(n, batch) * 2 * k / 3 for k in heun_steps)


def data_build_s(profile: str = "gpu", cores: int = 16) -> dict[str, float]:
    """Estimated seconds to build each dataset of a profile on a machine with this many cores."""
    d = resolve(profile)["data"]
    items = {"notes": d["notes"], "melodies": d["tunes"], "songs": d["songs"] * d["song_seconds"],
             "performances": d["performances"], "clips": d["clips"]}
    speed = min(8, cores) / 2
    return {k: rate * items[k] / (speed if parallel else 1.0) for k, (rate, parallel) in BUILD_RATES.items()}


def step_times_ms(profile: str, gpu: str = "H100", bench_json: str | Path | None = None) -> dict[str, tuple[float, str]]:
    """{case: (ms per step, 'measured' | 'roofline')}: a bench JSON's medians where given, else roofline / share."""
    measured: dict[str, float] = {}
    if bench_json is not None:
        saved = json.loads(Path(bench_json).read_text())
        if saved["profile"] != profile:
            raise ValueError(f"{bench_json} holds {saved['profile']} sizes, the plan is for {profile}")
        measured = {r["name"]: r["step_ms_median"] for r in saved["models"]}
    elif profile == "gpu" and bench.gpu_spec(gpu) == bench.gpu_spec("H100"):
        measured = dict(MEASURED_H100_MS)
    spec = bench.gpu_spec(gpu)
    if spec is None:
        raise ValueError(f"unknown GPU {gpu!r}; known: {[k for k, _ in bench.GPU_SPECS]}")
    out = {}
    for case in bench.cases(profile):
        if case.name in measured:
            out[case.name] = (measured[case.name], "measured")
        else:
            bound = bench.roofline(bench.count_step(case), spec, mixed=True)["bound_ms"]
            out[case.name] = (bound / ROOFLINE_SHARE, "roofline")
    return out


def estimate(profile: str = "gpu", gpu: str = "H100", bench_json: str | Path | None = None,
             cores: int | None = None) -> dict[str, Any]:
    """Estimated minutes per chapter (train, eval, data, overhead) for a profile on one GPU."""
    if bench_json is None:
        found = sorted((Path(os.environ.get("COURSE_BUILD", "build")) / "bench").glob(f"*{bench._slug(gpu)}*.json"))
        bench_json = found[0] if found else None
    times = step_times_ms(profile, gpu, bench_json)
    builds = data_build_s(profile, cores or 16)
    rows = {}
    for ch, runs in workload(profile).items():
        train_s = sum(steps * times[name][0] / 1e3 for name, steps in runs)
        data_s = sum(builds[k] for k in CHAPTER_DATA[ch])
        total = train_s * (1 + EVAL_SHARE) + data_s + OVERHEAD_S
        rows[ch] = {"steps": {name: int(steps) for name, steps in runs}, "train_min": train_s / 60,
                    "eval_min": train_s * EVAL_SHARE / 60, "data_min": data_s / 60, "overhead_min": OVERHEAD_S / 60,
                    "total_min": total / 60, "step_source": sorted({times[name][1] for name, _ in runs})}
    return {"profile": profile, "gpu": gpu, "bench_json": None if bench_json is None else str(bench_json),
            "budget_min": BUDGET_MIN, "chapters": rows}


def table(plan: dict[str, Any]) -> str:
    """A markdown table of an estimate."""
    src = plan["bench_json"] or (f"issue 20's measured H100 medians for 02-04, else the {plan['gpu']} roofline / "
                                 f"{ROOFLINE_SHARE:.0%}")
    lines = [f"Estimated minutes per chapter, {plan['profile']} profile on one {plan['gpu']} (step times: {src})", "",
             "| chapter | training steps | train | eval | data build | overhead | total | fits |",
             "|---|---|---|---|---|---|---|---|"]
    for ch, r in plan["chapters"].items():
        steps = ", ".join(f"{k} {v:,}" for k, v in r["steps"].items())
        lines.append(f"| {ch} | {steps} | {r['train_min']:.1f} | {r['eval_min']:.1f} | {r['data_min']:.1f} | "
                     f"{r['overhead_min']:.1f} | {r['total_min']:.1f} | "
                     f"{'yes' if r['total_min'] <= plan['budget_min'] else 'NO'} |")
    return "\n".join(lines)
