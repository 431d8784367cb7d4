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
    assert plots.listen(tone(0.5), SR) is None


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
    assert widgets.stft_explorer(tone(0.5).numpy(), SR) is None  # displays itself: no repr under the cell
    fig = plt.gcf()
    assert len(fig.axes) == 4 and all(ax.get_images() for ax in fig.axes)
    plt.close("all")


def test_widgets_enabled_outside_ci(monkeypatch):
    monkeypatch.delenv("COURSE_STATIC", raising=False)
    assert widgets.interactive_enabled()


def test_model_diagram_shapes_match_a_forward_pass_and_follow_the_model():
    from course_lib.models import unet1d

    net = unet1d.UNet1d(4, (8, 16), emb_dim=16, groups=4)
    x, c = torch.randn(3, 4, 32), torch.rand(3)
    seen = {}
    hooks = [getattr(net, n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, tuple(o.shape)))
             for n in ("embed", "conv_in", "conv_out")]
    net(x, c)
    for h in hooks:
        h.remove()
    d = plots.model_diagram(net, x, c)
    by = {b["name"]: b for b in d.blocks}
    assert [b["name"] for b in d.blocks] == ["embed", "conv_in", "enc.0", "down.0", "enc.1", "dec.0", "up.0",
                                             "dec.1", "norm_out", "conv_out"]
    assert all(by[n]["out"] == [s] for n, s in seen.items())
    assert by["conv_out"]["out"] == [(3, 4, 32)] and by["embed"]["params"] == sum(p.numel() for p in net.embed.parameters())
    # the noise embedding conditions every ResBlock; the skip from enc.0 reaches dec.1
    i = {b["name"]: k for k, b in enumerate(d.blocks)}
    assert all(i["embed"] in by[n]["inputs"] for n in ("enc.0", "enc.1", "dec.0", "dec.1"))
    assert i["enc.0"] in by["dec.1"]["inputs"] and by["conv_in"]["inputs"] == [-1]
    assert d._repr_png_().startswith(b"\x89PNG") and "10 blocks" in repr(d)
    wider = plots.model_diagram(unet1d.UNet1d(4, (8, 16, 32), emb_dim=16, groups=4), torch.randn(3, 4, 32), c)
    assert len(wider.blocks) == 14 and wider.blocks[-1]["out"] == [(3, 4, 32)]
    plt.close("all")


def test_model_diagram_depth_and_repeated_calls():
    seq = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    outer = torch.nn.Sequential(seq)
    assert [b["name"] for b in plots.trace_blocks(outer, torch.randn(4, 5))] == ["0"]
    deep = plots.trace_blocks(outer, torch.randn(4, 5), depth=2)
    assert [(b["type"], b["out"]) for b in deep] == [("Linear", [(4, 7)]), ("ReLU", [(4, 7)]), ("Linear", [(4, 2)])]
    assert [b["params"] for b in deep] == [42, 0, 16]

    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.f = torch.nn.Linear(3, 3)

        def forward(self, x):
            return self.f(self.f(x))

    (b,) = plots.trace_blocks(Twice(), torch.randn(2, 3))
    assert b["calls"] == 2 and b["inputs"] == [-1]
    assert "×2" in " ".join(t.get_text() for t in plots.model_diagram(Twice(), torch.randn(2, 3)).fig.axes[0].texts)
    plt.close("all")


def test_model_diagram_draws_a_block_that_reads_a_later_block():
    class Loop(torch.nn.Module):  # emb is called first, then again on the output of head (called after it)
        def __init__(self):
            super().__init__()
            self.emb, self.head = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)

        def forward(self, x):
            return self.emb(self.head(self.emb(x)))

    d = plots.model_diagram(Loop(), torch.randn(2, 3))
    assert [(b["name"], b["calls"], b["inputs"]) for b in d.blocks] == [("emb", 2, [-1, 1]), ("head", 1, [0])]
    plt.close("all")
