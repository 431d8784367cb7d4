"""The course's offline datasets: build them once per profile, load them (or a real dataset) the same way.

    python -m course_lib.data build [--profile cpu] [--only notes melodies songs performances clips] [--force]
    python -m course_lib.data check PATH --kind notes|melodies|songs|performances|clips
Real data: set COURSE_NOTES=/path/to/nsynth (folder with nsynth-train/ ...),
COURSE_MELODIES=/path/to/midi-folder (Nottingham, Lakh, MAESTRO), COURSE_SONGS=/path/to/audio-folder
(e.g. the Beatport EDM Key set) or COURSE_PERFORMANCES=/path/to/midi-folder (MIDI with CC automation,
Chapter 07) and every chapter reads it instead. The clips of Chapter 09 (2-s phrases with known factors:
instrument, melody, rhythm) exist only as built here; COURSE_CLIPS may point at another build_clips folder.
Every kind is described once, in `base.REGISTRY`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..context import data_dir
from ..sizes import profile_name
from ..io import write_json_atomic
from ..sizes import data_sizes
from .base import REGISTRY, SPLITS, DatasetKind, SplitSet, dataset_kind, register
from .common import BuildReport, DataError

KINDS = tuple(REGISTRY)  # in build order: songs and performances are rendered from melodies
BUILD_VERSION = 1  # bump when a builder's output changes, so old builds are rebuilt


def dataset_path(kind: str, profile: str | None = None) -> Path:
    """Where a dataset is read from: its environment variable (e.g. $COURSE_MELODIES) when set, else the built one."""
    env = os.environ.get(dataset_kind(kind).env)
    return Path(env) if env else data_dir(kind, profile)


def build_params(kind: str, profile: str | None = None) -> dict:
    """What a build of `kind` for `profile` is made with (the build stamp stores it): version, sizes, seed."""
    return {"version": BUILD_VERSION, **dataset_kind(kind).params(data_sizes(profile))}


def _stamp(kind: str, profile: str) -> Path:
    return data_dir(kind, profile).parent / f"{kind}.build.json"


def is_built(kind: str, profile: str | None = None) -> bool:
    """True when data/<profile>/<kind> exists and was built with the profile's current sizes."""
    profile = profile_name(profile)
    try:
        return (data_dir(kind, profile).is_dir()
                and json.loads(_stamp(kind, profile).read_text())["params"] == build_params(kind, profile))
    except (OSError, ValueError, KeyError):
        return False


def build(profile: str | None = None, kinds: tuple[str, ...] = KINDS, force: bool = False,
          progress: bool = True) -> dict[str, BuildReport | None]:
    """Build the datasets of a profile into data/<profile>/ unless already built with these sizes.

    A kind's dependencies are built first when they are not built yet; the result lists the kinds asked for.
    """
    profile = profile_name(profile)
    out: dict[str, BuildReport | None] = {}
    for kind in kinds:
        spec = dataset_kind(kind)
        folder = data_dir(kind, profile)
        if not force and is_built(kind, profile):
            print(f"{kind}: {folder} is up to date")
            out[kind] = None
            continue
        params = build_params(kind, profile)
        _stamp(kind, profile).unlink(missing_ok=True)  # a build that fails leaves no stale stamp
        t0 = time.perf_counter()
        print(f"{kind}: building the {profile} set into {folder} ...")
        for dep in spec.depends:
            if not is_built(dep, profile):
                build(profile, (dep,), progress=progress)
        rep = spec.build(folder, params, profile, progress)
        secs = time.perf_counter() - t0
        write_json_atomic(_stamp(kind, profile), {"params": params, "seconds": round(secs, 1),
                                                  "kept": rep.kept, "skipped": len(rep.skipped)})
        print(rep.summary() + f"  ({secs:.1f} s)")
        out[kind] = rep
    return out


def sources(profile: str | None = None) -> dict[str, str]:
    """Where each kind's data comes from: "user: <path>" when its variable (COURSE_NOTES...) is set, else
    "built here (<profile> sizes: ...)" with the build parameters of the profile (the seed left out)."""
    profile = profile_name(profile)
    out = {}
    for kind, spec in REGISTRY.items():
        env = os.environ.get(spec.env)
        if env:
            out[kind] = f"user: {env}"
        else:
            sizes = {k: v for k, v in spec.params(data_sizes(profile)).items() if k != "seed"}
            out[kind] = f"built here ({profile} sizes: {', '.join(f'{k}={v}' for k, v in sizes.items())})"
    return out


def user_data_set() -> bool:
    """True when any COURSE_<KIND> variable points at a user's own data."""
    return any(os.environ.get(spec.env) for spec in REGISTRY.values())


def get(kind: str, profile: str | None = None, **kw):
    """A dataset: the user's copy its environment variable names, else the built one (built first if missing)."""
    if not os.environ.get(dataset_kind(kind).env) and not is_built(kind, profile):
        build(profile, (kind,))
    return dataset_kind(kind).load(dataset_path(kind, profile), **kw)


def get_notes(split: str = "train", profile: str | None = None, **kw):
    """The notes of a split, a NoteSet (built first if missing; $COURSE_NOTES: NSynth). Notebook: 00_start_here."""
    if os.environ.get(dataset_kind("notes").env):
        # the real NSynth train split is 289,205 notes (74 GB as float32): take a seeded, profile-sized subset
        kw.setdefault("max_notes", data_sizes(profile)["notes"])
        if kw["max_notes"] is not None:
            print(f"notes: at most {kw['max_notes']} notes of {split} from $COURSE_NOTES (pass max_notes=None for all)")
    return get("notes", profile, split=split, **kw)


def get_melodies(profile: str | None = None, **kw):
    """The melody set (built first if missing; $COURSE_MELODIES: any MIDI folder). Notebook: 06_lstm_vae_melodies."""
    return get("melodies", profile, **kw)


def get_songs(profile: str | None = None, sample_rate: int = 4410, **kw):
    """The songs as an AudioSet at `sample_rate` (built first if missing; $COURSE_SONGS: your audio).

    Notebook: 02_fc_vs_conv_autoencoders.
    """
    return get("songs", profile, sample_rate=sample_rate, **kw)


def get_performances(profile: str | None = None, **kw):
    """The synth performances, a PerformanceSet (built first if missing; $COURSE_PERFORMANCES: MIDI with CC).

    Notebook: 07_transformer_vae_automation.
    """
    return get("performances", profile, **kw)


def get_clips(split: str | None = None, profile: str | None = None, **kw):
    """Clips with known factors, a ClipSet of one split or all (built first if missing; $COURSE_CLIPS).

    Notebook: 09_hierarchical_diffusion.
    """
    return get("clips", profile, split=split, **kw)


__all__ = ["BuildReport", "DataError", "DatasetKind", "KINDS", "REGISTRY", "SPLITS", "SplitSet", "build",
           "build_params", "dataset_kind", "dataset_path", "get", "get_clips", "get_melodies", "get_notes",
           "get_performances", "get_songs", "is_built", "register", "sources", "user_data_set"]
