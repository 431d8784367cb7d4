import json

import pytest
import torch

from course_lib import bench
from course_lib.models import autoencoders as ae
from course_lib.models import spectral


def test_peak_table_matches_device_names():
    assert bench.peak_bf16_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench.peak_bf16_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench.peak_bf16_tflops("NVIDIA H200") == 989.0
    assert bench.peak_bf16_tflops("Some Future Accelerator") is None


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


def test_run_writes_json_with_every_model(tmp_path):
    result = bench.run("smoke", tmp_path, warmup=0, steps=1, repeats=1, pipeline_notes=32, quiet=True)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    names = [r["name"] for r in saved["models"]]
    assert names == ["ch02_fc", "ch02_conv", "ch03_paper_ae", "ch04_vae"]
    for r in saved["models"]:
        assert r["step_ms_median"] > 0 and r["examples_per_s"] > 0 and r["train_tflop_per_step"] > 0
        assert r["fraction_of_bf16_peak"] is None  # no peak for a CPU
    p = saved["pipeline"]
    assert p["fast_notes_per_s"] > 0 and p["per_item_notes_per_s"] > 0
    assert p["speedup"] == pytest.approx(p["fast_notes_per_s"] / p["per_item_notes_per_s"])
    text = bench.table(result)
    assert "ch03_paper_ae" in text and "per-item DataLoader" in text


def test_per_item_dataset_matches_batched_features():
    waves = 0.1 * torch.randn(3, 4000)
    ds = bench.PerItemNotes(waves, "two_sided", 256, 64)
    from course_lib import audio

    batched = audio.spectral_features(waves, "two_sided", 256, 64)
    assert len(ds) == 3 and torch.allclose(ds[1], batched[1], atol=1e-5)
