import json

import pytest
import torch

from course_lib import audio, bench
from course_lib.models import autoencoders as ae
from course_lib.models import spectral


def test_gpu_table_matches_device_names_and_has_sources():
    assert bench.peak_bf16_tflops("NVIDIA H100 80GB HBM3") == 989.5
    assert bench.gpu_spec("NVIDIA H100 PCIe")["tb_s"] == 2.0
    assert bench.gpu_spec("NVIDIA A100-SXM4-80GB")["match"] == "A100"  # not A10
    assert bench.gpu_spec("NVIDIA L40S")["match"] == "L40S"  # not L4
    assert bench.peak_bf16_tflops("Tesla T4") is None and bench.gpu_spec("Tesla T4")["fp16"] == 65.0
    assert bench.autocast_dtype(bench.gpu_spec("Tesla V100-SXM2-16GB")) == torch.float16
    assert bench.autocast_dtype(bench.gpu_spec("NVIDIA H200")) == torch.bfloat16
    assert bench.gpu_spec("Some Future Accelerator") is None
    assert all(spec["source"] and spec["tb_s"] > 0 for _, spec in bench.GPU_SPECS)


def test_time_steps_counts_every_call_and_refuses_bad_settings():
    calls = []
    times = bench.time_steps(lambda: calls.append(1), torch.device("cpu"), warmup=2, steps=3, repeats=4)
    assert len(times) == 4 and len(calls) == 2 + 3 * 4 and all(t >= 0 for t in times)
    with pytest.raises(ValueError):
        bench.time_steps(lambda: None, torch.device("cpu"), steps=0)


def test_flops_of_a_2d_model_by_hand():
    m = spectral.SpectrogramAE((1, 8, 6), (2,), 3, batchnorm=False)
    # conv 1->2, k3x3, output 2 x 4 x 3; linear 24->3; linear 3->24; deconv 2->1 over a 4 x 3 input
    conv = 2 * 4 * 3 * (1 * 9)
    lin = 24 * 3 + 3 * 24
    deconv = 2 * 4 * 3 * (1 * 9)
    assert ae.linear_conv_flops(m, (1, 8, 6)) == 2 * (conv + lin + deconv)
    assert ae.linear_conv_flops(ae.FCAutoencoder(10, (6,), 4), 10) == 2 * (10 * 6 + 6 * 4 + 4 * 6 + 6 * 10)


def test_count_step_is_three_forward_passes_of_a_linear_model():
    case = bench.Case("fc", 5, lambda: ae.FCAutoencoder(10, (6,), 4), (10,), bench._ae_loss)
    counts = bench.count_step(case)
    fwd = ae.linear_conv_flops(ae.FCAutoencoder(10, (6,), 4), 10) * 5
    # backward: the first layer needs no input gradient, so 3 x forward minus that layer's 2 * 5 * 10 * 6
    assert counts["flops"] == 3 * fwd - 2 * 5 * 10 * 6
    assert counts["params"] == ae.count_parameters(ae.FCAutoencoder(10, (6,), 4)) and counts["saved_bytes"] > 0
    assert bench.count_step(case, batch=10)["flops"] == 2 * counts["flops"]


def test_lstm_counts_extrapolate_exactly():
    c = {"embed": 4, "hidden": 8, "latent": 2}
    case = bench._melody_case("lstm", c, bars=3, batch=2)  # 48 steps: counted at 16 and 32, extrapolated
    assert case.shape == (48,) and case.linear_len
    assert bench.count_step(case) == bench._count(case, 2, None)


def test_roofline_bound_is_the_larger_of_compute_and_memory():
    counts = {"flops": 10 ** 12, "saved_bytes": 0, "params": 10 ** 6}
    spec = bench.gpu_spec("NVIDIA H100 80GB HBM3")
    r = bench.roofline(counts, spec, mixed=True)
    assert r["compute_ms"] == pytest.approx(1e3 / 989.5) and r["bytes_params"] == 46 * 10 ** 6
    assert r["bound_by"] == "compute" and r["bound_ms"] == r["compute_ms"]
    r = bench.roofline({**counts, "flops": 1, "saved_bytes": 10 ** 9}, spec, mixed=True)
    assert r["bound_by"] == "memory" and r["bytes_activations"] == 10 ** 9  # written + read, in 16 bits
    assert bench.roofline(counts, {"fp32": 1.0, "tb_s": 1.0}, mixed=False)["bytes_params"] == 40 * 10 ** 6
    assert bench.roofline(counts, {}, mixed=False)["bound_ms"] is None


def test_every_chapter_model_is_a_case_at_the_profile_sizes():
    names = [c.name for c in bench.cases("gpu")]
    assert {n[:4] for n in names} == {f"ch0{k}" for k in range(2, 10)}
    fc = bench.cases("gpu")[0]
    assert bench.count_step(fc)["params"] == 429_657_130  # paper 001's FC model, exact


def test_run_writes_json_with_every_model(tmp_path):
    # the device is picked explicitly: the roofline's peaks differ between a CPU (measured) and a GPU (the table)
    only = ["ch02_fc", "ch03_paper_ae", "ch08_unet"]
    result = bench.run("smoke", tmp_path, warmup=0, steps=1, repeats=1, pipeline_notes=32, quiet=True,
                       device="cpu", only=only, workers=(0, 2))
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    assert [r["name"] for r in saved["models"]] == only
    assert saved["peaks"]["fp32"] > 0 and "measured" in saved["peaks"]["source"]
    for r in saved["models"]:
        assert r["step_ms_median"] > 0 and r["examples_per_s"] > 0 and r["roofline"]["flops"] > 0
        assert 0 < r["fraction_of_roofline"] == pytest.approx(r["roofline"]["bound_ms"] / r["step_ms_median"])
    p = saved["pipeline"]
    assert p["fast_notes_per_s"] > 0 and p["wav_per_item_workers_0_notes_per_s"] > 0
    assert p["speedup_vs_workers_2"] == pytest.approx(p["fast_notes_per_s"] / p["wav_per_item_workers_2_notes_per_s"])
    text = bench.table(result)
    assert "ch03_paper_ae" in text and "paper 002's path" in text


def test_wav_notes_match_batched_features(tmp_path):
    waves = 0.1 * torch.randn(3, 4000)
    ds = bench.WavNotes(bench.write_notes(tmp_path, waves), "two_sided", 256, 64)
    batched = audio.spectral_features(waves, "two_sided", 256, 64)
    # magnitudes equal up to the WAV's 16-bit quantisation (phases of near-zero bins may wrap)
    assert len(ds) == 3 and ds[1].shape == batched[1].shape and torch.allclose(ds[1][0], batched[1][0], atol=1e-2)
