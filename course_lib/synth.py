"""FluidSynth: the course soundfont, rendering notes and pretty_midi objects to audio, availability checks.

Notebooks: 00_start_here (single notes), 01_audio_and_midi (rendering MIDI).
"""
from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pretty_midi

FLUIDSYNTH_FIX = (
    "FluidSynth (the C library) is missing. Install it with:\n"
    "    sudo apt-get install -y libfluidsynth3      # Debian / Ubuntu\n"
    "    conda install -c conda-forge fluidsynth     # conda\n"
    "    brew install fluid-synth                    # macOS\n"
    "then run the command again (`make setup` does the Debian step for you when it may)."
)


class FluidSynthMissing(RuntimeError):
    """FluidSynth cannot be loaded; the message holds the install command."""


def soundfont_path() -> Path:
    """The General MIDI soundfont that pretty_midi ships (TimGM6mb.sf2), or $COURSE_SOUNDFONT."""
    env = os.environ.get("COURSE_SOUNDFONT")
    if env:
        p = Path(env)
        if not p.exists():
            raise FileNotFoundError(f"COURSE_SOUNDFONT={env} does not exist. Point it at a .sf2 file or unset it.")
        return p
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def _library_on_path() -> str | None:
    """A libfluidsynth.so* in a folder of $LD_LIBRARY_PATH (where the offline bundle's install.sh puts it without root)."""
    for folder in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        hits = sorted(Path(folder).glob("libfluidsynth.so*")) if folder else []
        if hits:
            return str(hits[0])
    return None


def _import_pyfluidsynth() -> ModuleType:
    """Import pyfluidsynth; when its library search (ldconfig, gcc, ld) fails, try the one on $LD_LIBRARY_PATH."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth)

        return fluidsynth
    except ImportError:
        lib = _library_on_path()
        if lib is None:
            raise
    import ctypes.util

    real = ctypes.util.find_library
    ctypes.util.find_library = lambda name: lib if "fluidsynth" in name else real(name)
    try:
        import fluidsynth  # noqa: F401,F811

        return fluidsynth
    finally:
        ctypes.util.find_library = real


def require_fluidsynth() -> ModuleType:
    """Import pyfluidsynth or raise FluidSynthMissing with the install command."""
    try:
        fluidsynth = _import_pyfluidsynth()
    except (ImportError, OSError) as e:
        raise FluidSynthMissing(f"{FLUIDSYNTH_FIX}\n(import error: {e})") from None
    if not hasattr(fluidsynth, "Synth"):
        raise FluidSynthMissing(
            "The `fluidsynth` module found is not pyfluidsynth (no Synth class). "
            "Run `pip uninstall fluidsynth && pip install pyfluidsynth`.")
    return fluidsynth


def fluidsynth_available() -> bool:
    """True when FluidSynth can render."""
    try:
        require_fluidsynth()
        return True
    except FluidSynthMissing:
        return False


class Synth:
    """A FluidSynth instance with the course soundfont loaded; renders mono float32 without normalising.

    Loudness is kept: the output is the synthesiser's int16 output divided by 32768 (no peak normalisation).
    """

    def __init__(self, sample_rate: int = 16000, gain: float = 0.5, soundfont: str | os.PathLike | None = None,
                 reverb: bool = False, chorus: bool = False):
        fs = require_fluidsynth()
        self.sample_rate = int(sample_rate)
        self._fs = fs.Synth(gain=gain, samplerate=float(sample_rate))
        for key, on in (("synth.reverb.active", reverb), ("synth.chorus.active", chorus)):
            try:
                self._fs.setting(key, int(on))
            except Exception:
                pass
        self.soundfont = Path(soundfont) if soundfont else soundfont_path()
        self._sfid = self._fs.sfload(str(self.soundfont))
        if self._sfid == -1:
            raise FileNotFoundError(f"FluidSynth could not load the soundfont {self.soundfont}.")

    def _samples(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        s = np.asarray(self._fs.get_samples(n), dtype=np.float32).reshape(-1, 2)
        return s.mean(axis=1) / 32768.0

    def note(self, program: int, pitch: int, velocity: int, hold_s: float, release_s: float,
             channel: int = 0, is_drum: bool = False) -> np.ndarray:
        """One note: key held for hold_s, then released and rendered for release_s."""
        bank = 128 if is_drum else 0
        self._fs.program_select(channel, self._sfid, bank, int(program))
        hold = int(round(hold_s * self.sample_rate))
        rel = int(round(release_s * self.sample_rate))
        self._fs.noteon(channel, int(pitch), int(velocity))
        a = self._samples(hold)
        self._fs.noteoff(channel, int(pitch))
        b = self._samples(rel)
        self._fs.all_sounds_off(channel)
        self._samples(self.sample_rate // 10)  # flush tails so the next note starts from silence
        return np.concatenate([a, b])

    MELODIC_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15)  # channel 9 is General MIDI's drums

    def render(self, pm: "pretty_midi.PrettyMIDI", duration_s: float | None = None) -> np.ndarray:
        """Render a pretty_midi.PrettyMIDI to mono float32 audio, loudness kept.

        Each melodic instrument gets a channel of its own; files with more than 15 melodic instruments (common in
        Lakh) are rendered 15 at a time and mixed, so no two instruments ever share a channel's program.
        """
        end = pm.get_end_time() + 1.0 if duration_s is None else duration_s
        total = int(round(end * self.sample_rate))
        melodic = [i for i in pm.instruments if not i.is_drum]
        drums = [i for i in pm.instruments if i.is_drum]
        n = len(self.MELODIC_CHANNELS)
        groups = [melodic[k:k + n] for k in range(0, len(melodic), n)] or [[]]
        groups[0] = groups[0] + drums
        return np.sum([self._render_group(g, total) for g in groups], axis=0).astype(np.float32)

    def _render_group(self, instruments: list, total: int) -> np.ndarray:
        sr = self.sample_rate
        self._fs.system_reset()
        events = []  # (time, order, kind, args)
        melodic_channels = iter(self.MELODIC_CHANNELS)
        for inst in instruments:
            channel = 9 if inst.is_drum else next(melodic_channels)
            events.append((0.0, 0, "program", (channel, inst.program, inst.is_drum)))
            for cc in inst.control_changes:
                events.append((cc.time, 1, "cc", (channel, cc.number, cc.value)))
            for pb in inst.pitch_bends:
                events.append((pb.time, 1, "bend", (channel, pb.pitch)))
            for note in inst.notes:
                events.append((note.end, 2, "off", (channel, note.pitch)))
                events.append((note.start, 3, "on", (channel, note.pitch, note.velocity)))
        events.sort(key=lambda e: (e[0], e[1]))
        out, t_samples = [], 0
        for time, _, kind, args in events:
            target = int(round(time * sr))
            if target >= total:
                break
            if target > t_samples:
                out.append(self._samples(target - t_samples))
                t_samples = target
            if kind == "program":
                ch, prog, drum = args
                self._fs.program_select(ch, self._sfid, 128 if drum else 0, int(prog))
            elif kind == "cc":
                self._fs.cc(*args)
            elif kind == "bend":
                self._fs.pitch_bend(args[0], int(args[1]))
            elif kind == "off":
                self._fs.noteoff(*args)
            else:
                self._fs.noteon(*args)
        if total > t_samples:
            out.append(self._samples(total - t_samples))
        for ch in range(16):
            self._fs.all_sounds_off(ch)
        self._samples(sr // 10)
        return np.concatenate(out)[:total] if out else np.zeros(total, np.float32)

    def close(self) -> None:
        """Free the synthesiser (also done on leaving a `with` block)."""
        if getattr(self, "_fs", None) is not None:
            self._fs.delete()
            self._fs = None

    def __enter__(self) -> "Synth":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def render(pm: "pretty_midi.PrettyMIDI", sample_rate: int = 16000) -> np.ndarray:
    """Render a PrettyMIDI with FluidSynth to mono float32 (loudness kept), end time + 1 s long."""
    with Synth(sample_rate=sample_rate) as synth:
        return synth.render(pm)
