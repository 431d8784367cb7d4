import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_STATIC", "1")

import pytest  # noqa: E402


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Send data, caches and build outputs of a test to its own temporary folder."""
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_BUILD", str(tmp_path / "build"))
    return tmp_path

from hypothesis import settings  # noqa: E402

# the same examples on every run: a property test that fails once fails every time
settings.register_profile("course", derandomize=True, deadline=None)
settings.load_profile("course")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one CPU thread is faster than several (and shares a busy machine better). Use it in a module
    with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
