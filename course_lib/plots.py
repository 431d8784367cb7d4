"""Plots and audio players: every sound shown as a picture and playable."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def waveform(x: Any, sr: int, ax=None, title: str | None = None, max_seconds: float | None = None):
    """Plot a waveform against time in seconds. Notebook: 02_fc_vs_conv_autoencoders."""
    y = _np(x).reshape(-1)
    if max_seconds is not None:
        y = y[: int(max_seconds * sr)]
    ax = ax or plt.subplots(figsize=(8, 2))[1]
    ax.plot(np.arange(len(y)) / sr, y, lw=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax.set_xlim(0, max(len(y) / sr, 1e-3))
    if title:
        ax.set_title(title)
    return ax


def spectrogram(x: Any, sr: int, ax=None, title: str | None = None, n_fft: int = 1024, hop: int = 256,
                mel: bool = False, n_mels: int = 128, top_db: float = 80.0, colorbar: bool = False):
    """Plot a (mel) spectrogram in dB, time in seconds, frequency in Hz (or mel bins).

    Notebook: 03_spectrogram_autoencoders
    """
    from . import audio

    t = torch.as_tensor(_np(x).reshape(-1))
    if mel:
        S = audio.mel_spectrogram(t, sr, n_fft=n_fft, hop=hop, n_mels=n_mels, power=2.0)
        S_db = 10 * torch.log10(S.clamp_min(1e-10))
        extent = [0, t.numel() / sr, 0, n_mels]
        ylabel = "mel bin"
    else:
        S_db = 20 * torch.log10(audio.stft(t, n_fft, hop).abs().clamp_min(1e-10))
        extent = [0, t.numel() / sr, 0, sr / 2]
        ylabel = "frequency (Hz)"
    S_db = S_db.clamp_min(S_db.max() - top_db).numpy()
    ax = ax or plt.subplots(figsize=(8, 3))[1]
    im = ax.imshow(S_db, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        plt.colorbar(im, ax=ax, label="dB")
    return ax


def player(x: Any, sr: int, max_seconds: float = 6.0, normalize: bool = False):
    """An IPython audio player; loudness is kept unless normalize=True; clipped to max_seconds.

    Notebook: 03_spectrogram_autoencoders
    """
    from IPython.display import Audio

    y = _np(x).reshape(-1)[: int(max_seconds * sr)]
    if not normalize:
        peak = float(np.abs(y).max()) if y.size else 0.0
        if peak > 1.0:  # Audio cannot play values beyond [-1, 1] without scaling them
            y = y / peak
    return Audio(y, rate=sr, normalize=normalize)


def listen(x: Any, sr: int, title: str | None = None, max_seconds: float = 6.0, mel: bool = False,
           show: bool = True):
    """A spectrogram (with the waveform above it) paired with a player, displayed together. Notebook: 00_start_here.

    show=True displays both and returns None (no stray repr under the cell); show=False returns (figure, player).
    """
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(8, 3.6), height_ratios=[1, 2.2], sharex=True)
    y = _np(x).reshape(-1)[: int(max_seconds * sr)]
    waveform(y, sr, ax=a0, title=title)
    a0.set_xlabel("")
    spectrogram(y, sr, ax=a1, mel=mel)
    fig.tight_layout()
    p = player(y, sr, max_seconds)
    if show:
        from IPython.display import display

        plt.show()
        display(p)
        plt.close(fig)
        return None
    return fig, p


def piano_roll(roll: Any, ax=None, title: str | None = None, low: int = 21, steps_per_bar: int = 16,
               crop: bool = True):
    """Show an (88, T) piano roll; bar lines every steps_per_bar steps; cropped to the used pitches.

    Notebook: 00_start_here
    """
    r = _np(roll)
    if r.ndim != 2:
        raise ValueError(f"piano_roll expects (pitches, steps), got shape {r.shape}")
    lo, hi = 0, r.shape[0] - 1
    if crop and r.any():
        rows = np.flatnonzero(r.any(axis=1))
        lo, hi = max(rows[0] - 2, 0), min(rows[-1] + 2, r.shape[0] - 1)
    ax = ax or plt.subplots(figsize=(8, 2.5))[1]
    ax.imshow(r[lo:hi + 1], origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
              extent=[0, r.shape[1], low + lo - 0.5, low + hi + 0.5])
    for b in range(0, r.shape[1] + 1, steps_per_bar):
        ax.axvline(b, color="tab:blue", lw=0.5, alpha=0.5)
    ax.set_xlabel("step (16th notes)")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title)
    return ax


def curves(series: dict[str, Sequence[float]], ax=None, title: str | None = None, xlabel: str = "epoch",
           ylabel: str | None = None, logy: bool = False, x: Sequence[float] | None = None):
    """Line plot of named series (e.g. training and validation loss). Notebook: 05_kl_annealing."""
    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    for name, ys in series.items():
        xs = list(x) if x is not None else list(range(len(ys)))
        ax.plot(xs[: len(ys)], list(ys), marker="o" if len(ys) < 30 else None, ms=3, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def history(hist, keys: Sequence[str] = ("train_loss", "val_loss"), ax=None, title: str | None = None,
            logy: bool = False):
    """Plot columns of a train.History against epoch. Notebook: 08_diffusion_basics."""
    return curves({k: hist.series(k) for k in keys if hist.series(k)}, ax=ax, title=title, logy=logy,
                  x=hist.series("epoch"))


def magnitude_spectrum(x: Any, sr: int, ax=None, label: str | None = None, db: bool = True):
    """|RFFT| of a whole signal against frequency in Hz (dB by default). Notebook: 01_audio_and_midi."""
    y = _np(x).reshape(-1)
    mag = np.abs(np.fft.rfft(y)) / max(len(y), 1)
    f = np.fft.rfftfreq(len(y), 1 / sr)
    ax = ax or plt.subplots(figsize=(7, 3))[1]
    ax.plot(f, 20 * np.log10(mag + 1e-12) if db else mag, lw=0.7, label=label)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("magnitude (dB)" if db else "magnitude")
    if label:
        ax.legend()
    return ax


# --- model diagrams, traced from a forward pass so that they always match the code ----------------------------

_CONTAINERS = (torch.nn.ModuleList, torch.nn.ModuleDict)
_ACTIVATIONS = {"ReLU", "SiLU", "GELU", "Tanh", "Sigmoid", "LeakyReLU", "ELU", "Dropout"}
_COLOURS = (("LSTM", "#f4c7a1"), ("GRU", "#f4c7a1"), ("RNN", "#f4c7a1"), ("Transformer", "#c9b8e8"),
            ("Attention", "#c9b8e8"), ("Conv", "#a9cdea"), ("ResBlock", "#a9cdea"), ("Linear", "#b9e0b0"),
            ("Embedding", "#f2e29b"), ("Norm", "#dddddd"))


class ModelDiagram:
    """A block diagram of a model traced from one forward pass; shown as a picture in a notebook.

    blocks: one dict per block in call order (name, type, out: output shapes, params, calls, inputs: indices of
    the blocks (-1: the model's input) whose outputs reach it); fig: the matplotlib figure.
    """

    def __init__(self, title: str, blocks: list[dict[str, Any]], input_shapes: list[tuple[int, ...]], fig) -> None:
        self.title, self.blocks, self.input_shapes, self.fig = title, blocks, input_shapes, fig

    def __repr__(self) -> str:
        return f"<ModelDiagram {self.title}: {len(self.blocks)} blocks>"

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        return buf.getvalue()


def _shapes(x: Any) -> list[tuple[int, ...]]:
    """Shapes of the tensors in a (nested) output, in order."""
    if isinstance(x, torch.Tensor):
        return [tuple(x.shape)]
    if isinstance(x, (tuple, list)):
        return [s for v in x for s in _shapes(v)]
    if isinstance(x, dict):
        return [s for v in x.values() for s in _shapes(v)]
    return []


def _tensors(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _tensors(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tensors(v)]
    return []


def _block_depth(model: torch.nn.Module) -> dict[str, int]:
    """Depth of every submodule, not counting ModuleList / ModuleDict levels (their items are the blocks)."""
    kinds = dict(model.named_modules())
    depth = {}
    for name in kinds:
        if not name:
            continue
        parts = name.split(".")
        depth[name] = sum(not isinstance(kinds[".".join(parts[:i + 1])], _CONTAINERS) for i in range(len(parts)))
    return depth


def trace_blocks(model: torch.nn.Module, *inputs: Any, depth: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    """Run model(*inputs, **kwargs) once and record its blocks at `depth`: type, output shapes, params, inputs.

    A block is a submodule `depth` levels down (ModuleList levels not counted) or a shallower leaf. Data flow is
    followed through every torch operation, so skip connections and conditioning inputs appear as `inputs`.
    """
    from torch.overrides import TorchFunctionMode

    mods = dict(model.named_modules())
    d = _block_depth(model)
    chosen = {n for n, k in d.items() if not isinstance(mods[n], _CONTAINERS)
              and (k == depth or (k < depth and not any(True for _ in mods[n].children())))}
    chosen = {n for n in chosen if not any(n.startswith(a + ".") for a in chosen)}  # outermost only
    index: dict[str, int] = {}
    blocks: list[dict[str, Any]] = []
    source: dict[int, set[int]] = {}  # id(tensor) -> blocks it derives from
    alive: list[torch.Tensor] = []  # keep traced tensors alive so ids are not reused
    stack: list[str] = []

    def mark(x: Any, src: set[int]) -> None:
        for t in _tensors(x):
            source[id(t)] = src
            alive.append(t)

    def origin(args: Any) -> set[int]:
        return set().union(*[source.get(id(t), set()) for t in _tensors(args)]) if _tensors(args) else set()

    class Flow(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kw=None):
            out = func(*args, **(kw or {}))
            mark(out, origin((args, kw or {})))
            return out

    def pre(name):
        def hook(m, args, kw):
            stack.append(name)
            if name not in index:
                index[name] = len(blocks)
                blocks.append({"name": name, "type": type(m).__name__, "out": [], "calls": 0, "inputs": set(),
                               "params": sum(p.numel() for p in m.parameters())})
            b = blocks[index[name]]
            b["calls"] += 1
            b["inputs"] |= origin((args, kw)) - {index[name]}
        return hook

    def post(name):
        def hook(m, args, kw, out):
            stack.pop()
            b = blocks[index[name]]
            if b["calls"] == 1:
                b["out"] = _shapes(out)
            mark(out, {index[name]})
        return hook

    handles = []
    for n in chosen:
        handles.append(mods[n].register_forward_pre_hook(pre(n), with_kwargs=True))
        handles.append(mods[n].register_forward_hook(post(n), with_kwargs=True))
    mark(inputs, {-1})
    mark(kwargs, {-1})
    try:
        with torch.no_grad(), Flow():
            model(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    for b in blocks:
        b["inputs"] = sorted(b["inputs"])
    return blocks


def _fmt_count(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def _fmt_shapes(shapes: list[tuple[int, ...]]) -> str:
    text = ", ".join(str(tuple(s)) for s in shapes[:2])
    return text + (f" +{len(shapes) - 2}" if len(shapes) > 2 else "")


def model_diagram(model: torch.nn.Module, *inputs: Any, depth: int = 1, title: str | None = None,
                  **kwargs: Any) -> ModelDiagram:
    """Draw model's blocks top to bottom with layer type, output shape and parameters, traced from model(*inputs).

    Arrows on the left follow the data from block to block; arcs on the right show an input that skips ahead
    (a skip connection, a condition such as the noise embedding, or the latent z). Notebook: 02_fc_vs_conv_autoencoders
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    was_training = model.training
    model.eval()
    try:
        blocks = trace_blocks(model, *inputs, depth=depth, **kwargs)
    finally:
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    title = title or f"{type(model).__name__}: {_fmt_count(total)} parameters"
    rows = [{"name": "input", "type": "", "out": _shapes(inputs), "params": 0, "calls": 1, "inputs": {-1}}]
    row_of = {-1: 0}
    for i, b in enumerate(blocks):  # an activation that follows its only input is drawn in that block's box
        prev = rows[-1]
        if b["type"] in _ACTIVATIONS and b["inputs"] == [i - 1] and len(rows) > 1 and b["calls"] == prev["calls"]:
            prev["type"] += f" + {b['type']}"
            prev["out"] = b["out"]
        else:
            rows.append(dict(b))
        row_of[i] = len(rows) - 1
    for r in rows[1:]:  # a block called again later may read a block first called after it
        r["inputs"] = {row_of[s] for s in r["inputs"]} - {rows.index(r)}
    n = len(rows)
    fig, ax = plt.subplots(figsize=(9, 0.42 * n + 0.8))
    w = 6.4
    for i, b in enumerate(rows):
        y = -i
        colour = next((c for key, c in _COLOURS if key in b["type"]), "#eeeeee") if i else "white"
        ax.add_patch(FancyBboxPatch((0, y - 0.32), w, 0.64, boxstyle="round,pad=0.02", fc=colour, ec="0.4", lw=0.8))
        label = b["name"] + (f"  ·  {b['type']}" if b["type"] else "") + (f" ×{b['calls']}" if b["calls"] > 1 else "")
        ax.text(0.12, y, label, va="center", ha="left", fontsize=8.5, family="monospace")
        right = _fmt_shapes(b["out"]) + (f"   {_fmt_count(b['params'])}" if b["params"] else "")
        ax.text(w - 0.12, y, right, va="center", ha="right", fontsize=8, family="monospace", color="0.15")
        if i and (i - 1) in b["inputs"]:  # fed by the block just above
            ax.annotate("", (0.35, y + 0.32), (0.35, y + 0.68), arrowprops=dict(arrowstyle="->", lw=0.8, color="0.3"))
    spans = sorted(((s, i) for i, b in enumerate(rows) if i for s in b["inputs"] if s != i - 1),
                   key=lambda e: abs(e[1] - e[0]))
    for k, (src, dst) in enumerate(spans):  # nested arcs: the k-th shortest one k steps further out
        bend = (-1 if dst > src else 1) * (0.02 + 0.3 * (k + 1) / max(abs(dst - src), 1))  # always to the right
        ax.add_patch(FancyArrowPatch((w, -src), (w, -dst), connectionstyle=f"bar,fraction={bend}",
                                     arrowstyle="->", mutation_scale=8, lw=0.8, color=plt.cm.tab10(k % 10),
                                     shrinkA=2, shrinkB=2))
    ax.set_xlim(-0.2, w + 0.6 + 0.18 * min(len(spans), 12) + 0.6)
    ax.set_ylim(-n + 0.4, 0.6)
    ax.axis("off")
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    plt.close(fig)  # shown once, through the notebook's rich display of the returned ModelDiagram
    return ModelDiagram(title, blocks, _shapes(inputs), fig)
