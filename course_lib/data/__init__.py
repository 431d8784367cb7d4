"""The course's offline datasets: build them once per profile, load them (or a real dataset) the same way (Chapter 00).

    python -m course_lib.data build [--profile cpu] [--only notes melodies songs performances clips] [--force]
    python -m course_lib.data check PATH --kind notes|melodies|songs|performances|clips
Real data: set COURSE_NOTES=/path/to/nsynth (folder with nsynth-train/ ...),
COURSE_MELODIES=/path/to/midi-folder (Nottingham, Lakh, MAESTRO), COURSE_SONGS=/path/to/audio-folder
(e.g. the Beatport EDM Key set) or COURSE_PERFORMANCES=/path/to/midi-folder (MIDI with CC automation,
Chapter 07) and every chapter reads it instead. The clips of Chapter 09 (2-s phrases with known factors:
instrument, melody, rhythm) exist only as built here; COURSE_CLIPS may point at another build_clips folder.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..config import SIZES, data_dir, profile_name
from .common import BuildReport, DataError, write_json_atomic

KINDS = ("notes", "melodies", "songs", "performances", "clips")  # songs and performances are rendered from melodies
BUILD_VERSION = 1  # bump when a builder's output changes, so old builds are rebuilt


def dataset_path(kind: str, profile: str | None = None) -> Path:
    """Chapter 00. Where a dataset is read from: $COURSE_<KIND> (e.g. $COURSE_MELODIES) when set, else the built one."""
    if kind not in KINDS:
        raise ValueError(f"unknown dataset {kind!r}; choose from {KINDS}")
    env = os.environ.get(f"COURSE_{kind.upper()}")
    return Path(env) if env else data_dir(kind, profile)


def _wanted(kind: str, profile: str) -> dict:
    d = SIZES[profile]["data"]
    if kind == "notes":
        return {"version": BUILD_VERSION, "n_notes": d["notes"], "velocities": d["velocities"], "seed": 0}
    if kind == "songs":
        return {"version": BUILD_VERSION, "n_songs": d["songs"], "seconds": d["song_seconds"], "seed": 0,
                "tunes": d["tunes"]}
    if kind == "performances":
        return {"version": BUILD_VERSION, "n_pieces": d["performances"], "n_bars": d["performance_bars"], "seed": 0,
                "sample_rate": 16000, "tunes": d["tunes"]}
    if kind == "clips":
        return {"version": BUILD_VERSION, "n_clips": d["clips"], "seed": 0, "sample_rate": 16000}
    return {"version": BUILD_VERSION, "n_tunes": d["tunes"], "seed": 0}


def is_built(kind: str, profile: str | None = None) -> bool:
    """Chapter 00. True when data/<profile>/<kind> exists and was built with the profile's current sizes."""
    profile = profile_name(profile)
    stamp = data_dir(kind, profile).parent / f"{kind}.build.json"
    try:
        return data_dir(kind, profile).is_dir() and json.loads(stamp.read_text())["params"] == _wanted(kind, profile)
    except (OSError, ValueError, KeyError):
        return False


def build(profile: str | None = None, kinds: tuple[str, ...] = KINDS, force: bool = False,
          progress: bool = True) -> dict[str, BuildReport | None]:
    """Chapter 00. Build the datasets of a profile into data/<profile>/ unless already built with these sizes."""
    from .clips import build_clips
    from .melodies import build_melodies, load_melodies
    from .notes import build_notes
    from .performances import build_performances
    from .songs import build_songs

    profile = profile_name(profile)
    out: dict[str, BuildReport | None] = {}
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown dataset {kind!r}; choose from {KINDS}")
        folder = data_dir(kind, profile)
        if not force and is_built(kind, profile):
            print(f"{kind}: {folder} is up to date")
            out[kind] = None
            continue
        params = _wanted(kind, profile)
        (folder.parent / f"{kind}.build.json").unlink(missing_ok=True)  # a build that fails leaves no stale stamp
        t0 = time.perf_counter()
        print(f"{kind}: building the {profile} set into {folder} ...")
        if kind == "notes":
            rep = build_notes(folder, params["n_notes"], seed=params["seed"], velocities=tuple(params["velocities"]),
                              progress=progress)
        elif kind == "melodies":
            rep = build_melodies(folder, params["n_tunes"], seed=params["seed"], progress=progress)
        elif kind == "performances":
            if not is_built("melodies", profile):
                build(profile, ("melodies",), progress=progress)
            rep = build_performances(folder, params["n_pieces"], data_dir("melodies", profile), n_bars=params["n_bars"],
                                     seed=params["seed"], sample_rate=params["sample_rate"], progress=progress)
        elif kind == "clips":
            rep = build_clips(folder, params["n_clips"], seed=params["seed"], sample_rate=params["sample_rate"],
                              progress=progress)
        else:
            if not is_built("melodies", profile):
                build(profile, ("melodies",), progress=progress)
            tunes = load_melodies(data_dir("melodies", profile), progress=progress)
            rep = build_songs(folder, tunes, params["n_songs"], params["seconds"], seed=params["seed"],
                              progress=progress)
        secs = time.perf_counter() - t0
        write_json_atomic(folder.parent / f"{kind}.build.json", {"params": params, "seconds": round(secs, 1),
                                                                 "kept": rep.kept, "skipped": len(rep.skipped)})
        print(rep.summary() + f"  ({secs:.1f} s)")
        out[kind] = rep
    return out


def get_notes(split: str = "train", profile: str | None = None, **kw):
    """Chapter 00. The notes of a split as a NoteSet (built first if missing; $COURSE_NOTES for the real NSynth)."""
    from .notes import load_notes

    if os.environ.get("COURSE_NOTES"):
        # the real NSynth train split is 289,205 notes (74 GB as float32): take a seeded, profile-sized subset
        cap = SIZES[profile_name(profile)]["data"]["notes"]
        kw.setdefault("max_notes", cap)
        if kw["max_notes"] is not None:
            print(f"notes: at most {kw['max_notes']} notes of {split} from $COURSE_NOTES (pass max_notes=None for all)")
    elif not is_built("notes", profile):
        build(profile, ("notes",))
    return load_notes(dataset_path("notes", profile), split=split, **kw)


def get_melodies(profile: str | None = None, **kw):
    """Chapter 00. The melody set (built first if missing; $COURSE_MELODIES for any folder of MIDI files)."""
    from .melodies import load_melodies

    if not os.environ.get("COURSE_MELODIES") and not is_built("melodies", profile):
        build(profile, ("melodies",))
    return load_melodies(dataset_path("melodies", profile), **kw)


def get_songs(profile: str | None = None, sample_rate: int = 4410, **kw):
    """Chapter 02. The songs as an AudioSet at `sample_rate` (built first if missing; $COURSE_SONGS for your audio)."""
    from .songs import load_audio_folder

    if not os.environ.get("COURSE_SONGS") and not is_built("songs", profile):
        build(profile, ("songs",))
    return load_audio_folder(dataset_path("songs", profile), sample_rate=sample_rate, **kw)


def get_performances(profile: str | None = None, **kw):
    """Chapter 07. The synth performances, a PerformanceSet (built first if missing; $COURSE_PERFORMANCES for MIDI)."""
    from .performances import load_performances

    if not os.environ.get("COURSE_PERFORMANCES") and not is_built("performances", profile):
        build(profile, ("performances",))
    return load_performances(dataset_path("performances", profile), **kw)


def get_clips(split: str | None = None, profile: str | None = None, **kw):
    """Chapter 09. Clips with known factors, a ClipSet of one split or all (built first if missing; $COURSE_CLIPS)."""
    from .clips import load_clips

    if not os.environ.get("COURSE_CLIPS") and not is_built("clips", profile):
        build(profile, ("clips",))
    return load_clips(dataset_path("clips", profile), split=split, **kw)


__all__ = ["BuildReport", "DataError", "KINDS", "build", "dataset_path", "get_clips", "get_melodies", "get_notes",
           "get_performances", "get_songs", "is_built"]
