import json

import pytest

from course_lib import io


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    io.write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"a": 1}
    folder = tmp_path / "set"
    with io.atomic_path(folder) as tmp:
        tmp.mkdir()
        (tmp / "x.txt").write_text("new")
    assert (folder / "x.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "set"]  # no temporary folders left


def test_files_fingerprint_sees_every_change(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.wav").write_bytes(b"1234")
    f0 = io.files_fingerprint(tmp_path)
    assert io.files_fingerprint(tmp_path) == f0
    (tmp_path / "a" / "x.wav").write_bytes(b"12345")
    f1 = io.files_fingerprint(tmp_path)
    (tmp_path / "b.wav").write_bytes(b"")
    assert len({f0, f1, io.files_fingerprint(tmp_path)}) == 3


def test_digest_separates_parts_and_is_stable():
    assert io.digest("ab", "c") != io.digest("a", "bc")
    assert io.digest(b"x", 1) == io.digest(b"x", "1")
    assert len(io.digest("x")) == 40
