import pytest

from course_lib import plan


@pytest.fixture(scope="module")
def gpu_plan():
    return plan.estimate("gpu", "H100", bench_json=None)


def test_every_chapter_of_the_gpu_profile_fits_ten_minutes_on_an_h100(gpu_plan):
    assert set(gpu_plan["chapters"]) == {f"ch0{k}" for k in range(2, 10)}
    over = {ch: round(r["total_min"], 1) for ch, r in gpu_plan["chapters"].items() if r["total_min"] > plan.BUDGET_MIN}
    assert not over, f"over {plan.BUDGET_MIN} minutes by bench --plan: {over}"


def test_estimate_adds_up_and_uses_the_measured_h100_medians(gpu_plan):
    r = gpu_plan["chapters"]["ch02"]
    parts = r["train_min"] + r["eval_min"] + r["data_min"] + r["overhead_min"]
    assert r["total_min"] == pytest.approx(parts) and r["step_source"] == ["measured"]
    steps = r["steps"]["ch02_fc"]
    assert r["train_min"] * 60 == pytest.approx((steps * 8.65 + r["steps"]["ch02_conv"] * 17.9) / 1e3)


def test_data_builds_scale_with_cores():
    one, many = plan.data_build_s("gpu", cores=2), plan.data_build_s("gpu", cores=16)
    assert many["melodies"] == pytest.approx(one["melodies"] / 4) and many["notes"] == one["notes"]
    with pytest.raises(ValueError):
        plan.step_times_ms("gpu", "No Such GPU")
