import numpy as np
import pytest
import soundfile as sf

from course_lib.data import common


def test_read_wav_fixes_and_refuses(tmp_path):
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([np.full(4800, 0.5), np.full(4800, -0.1)], 1), 48000)
    rep = common.BuildReport("t")
    x, sr = common.read_wav(stereo, sample_rate=16000, report=rep)
    assert sr == 16000 and abs(len(x) - 1600) <= 1 and x[800] == pytest.approx(0.2, abs=1e-3)
    assert [f["fix"] for f in rep.fixed] == ["downmixed 2 channels to mono", "resampled 48000 Hz -> 16000 Hz"]
    good = tmp_path / "good.wav"
    common.write_wav(good, np.zeros(16000, np.float32), 16000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:20000])
    with pytest.raises(common.DataError, match="truncated"):
        common.read_wav(cut)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(common.DataError, match="empty.wav"):
        common.read_wav(tmp_path / "empty.wav")
    with pytest.raises(common.DataError, match="not found"):
        common.read_wav(tmp_path / "missing.wav")


def test_map_in_processes_gives_the_in_process_results_in_order(tmp_path):
    from course_lib.data.common import map_in_processes
    from course_lib.io import digest

    tasks = [{"k": k, "name": f"item{k}"} for k in range(7)]
    here = map_in_processes("course_lib.io:digest", tasks, 1, tmp_path / "w1", progress=False)
    assert here == [digest(t) for t in tasks]
    there = map_in_processes("course_lib.io:digest", tasks, 2, tmp_path / "w2", progress=False)
    assert there == here  # two fresh worker processes, results put back in task order
    assert sorted(p.name for p in (tmp_path / "w2").iterdir()) == ["shard-0.json", "shard-0.out.json",
                                                                   "shard-1.json", "shard-1.out.json"]
