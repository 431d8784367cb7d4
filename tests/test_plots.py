import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import plots, widgets  # noqa: E402
from course_lib.train import History  # noqa: E402

SR = 16000


def tone(seconds=1.0, f=440.0):
    t = torch.arange(int(SR * seconds)) / SR
    return 0.5 * torch.sin(2 * torch.pi * f * t)


def test_spectrogram_peak_is_at_the_tone():
    ax = plots.spectrogram(tone(), SR, n_fft=1024, hop=256)
    img = ax.get_images()[0].get_array()
    freqs = np.linspace(0, SR / 2, img.shape[0])
    assert abs(freqs[img.mean(axis=1).argmax()] - 440) < SR / 1024
    plt.close("all")


def test_listen_pairs_a_plot_with_a_player():
    fig, audio = plots.listen(tone(2.0), SR, title="A4", max_seconds=1.0, show=False)
    assert len(fig.axes) == 2
    data = audio.data  # WAV bytes: 44-byte header + 16-bit samples, clipped to max_seconds
    assert len(data) == 44 + 2 * SR
    plt.close(fig)


def test_player_keeps_loudness():
    quiet = plots.player(0.01 * tone(), SR).data
    loud = plots.player(0.5 * tone(), SR).data
    q = np.frombuffer(quiet[44:], dtype=np.int16)
    l_ = np.frombuffer(loud[44:], dtype=np.int16)
    assert np.abs(l_).max() > 20 * np.abs(q).max()


def test_piano_roll_and_curves():
    roll = np.zeros((88, 32), bool)
    roll[39, 0:8] = True
    ax = plots.piano_roll(roll)
    assert ax.get_ylim()[0] < 60 < ax.get_ylim()[1]
    with pytest.raises(ValueError, match="pitches, steps"):
        plots.piano_roll(np.zeros(5))
    h = History(records=[{"epoch": 0, "train_loss": 2.0, "val_loss": 2.5}, {"epoch": 1, "train_loss": 1.0, "val_loss": 1.5}])
    ax = plots.history(h)
    assert [line.get_label() for line in ax.get_lines()] == ["train_loss", "val_loss"]
    plt.close("all")


def test_stft_explorer_static_fallback(monkeypatch):
    monkeypatch.setenv("COURSE_STATIC", "1")
    assert not widgets.interactive_enabled()
    fig = widgets.stft_explorer(tone(0.5).numpy(), SR)
    assert len(fig.axes) == 4 and all(ax.get_images() for ax in fig.axes)
    plt.close("all")


def test_widgets_enabled_outside_ci(monkeypatch):
    monkeypatch.delenv("COURSE_STATIC", raising=False)
    assert widgets.interactive_enabled()
