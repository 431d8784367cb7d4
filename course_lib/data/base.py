"""What every dataset shares: the split names, the base class of split sets, and the registry of dataset kinds.

A kind (notes, melodies, songs, performances, clips) is one `DatasetKind`: the environment variable that
points at a user's copy, the build parameters it takes from the profile's data sizes, how it is built,
loaded and checked, and the kinds it is made from. `course_lib.data` (build, is_built, dataset_path, the
get_* functions) and `python -m course_lib.data` read everything about a kind from `REGISTRY`.
"""
from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence, TypeVar

from ..context import data_dir

if TYPE_CHECKING:
    from .common import BuildReport

SPLITS = ("train", "valid", "test")  # every dataset's split names

S = TypeVar("S", bound="SplitSet")


def check_split(name: str) -> str:
    """`name` when it is one of SPLITS, else ValueError listing them."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
    return name


class SplitSet(abc.ABC):
    """A dataset whose items each carry their split in `meta`: len, ids, per-split counts, split, subset, repr.

    A subclass names its items (NOUN, for repr), the meta key of an item's id (ID_KEY) and implements subset.
    """

    NOUN: ClassVar[str] = "items"
    ID_KEY: ClassVar[str] = "id"
    meta: list[dict]

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def ids(self) -> list[str]:
        """The id of every item, in order."""
        return [m[self.ID_KEY] for m in self.meta]

    def per_split(self) -> dict[str, int]:
        """The number of items in each split, in SPLITS order."""
        return {s: sum(m["split"] == s for m in self.meta) for s in SPLITS}

    def split(self: S, name: str) -> S:
        """The items of one split ('train', 'valid' or 'test'), in order."""
        check_split(name)
        return self.subset([i for i, m in enumerate(self.meta) if m["split"] == name])

    @abc.abstractmethod
    def subset(self: S, idx: Sequence[int]) -> S:
        """The items at the positions idx, in that order, as a set of the same class."""

    def _repr_parts(self) -> list[str]:
        """What repr lists after the class name; subclasses add theirs."""
        return [f"{len(self)} {self.NOUN}", str(self.per_split())]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_parts())})"


# ---------------------------------------------------------------------------------------------- the registry

Builder = Callable[[Path, dict, str, bool], "BuildReport"]  # (folder, build parameters, profile, progress)


@dataclass(frozen=True)
class DatasetKind:
    """One kind of dataset: where a user's copy comes from, and how the course builds, loads and checks it."""

    name: str
    env: str  # the environment variable naming a user's copy, e.g. COURSE_NOTES
    description: str  # one line, shown by `python -m course_lib.data --help`
    params: Callable[[dict], dict]  # the build parameters, from the profile's data sizes
    build: Builder  # renders the set into a folder and returns its BuildReport
    load: Callable[..., Any]  # (path, **options) -> the dataset
    check: Callable[[str, str], Any]  # (path, split) -> the dataset, loaded as `check` reports it
    depends: tuple[str, ...] = ()  # kinds that must be built first (this one is made from them)


REGISTRY: dict[str, DatasetKind] = {}


def register(kind: DatasetKind) -> DatasetKind:
    """Add a kind to REGISTRY; its dependencies must already be registered (so REGISTRY is in build order)."""
    if kind.name in REGISTRY:
        raise ValueError(f"dataset kind {kind.name!r} is already registered")
    missing = [d for d in kind.depends if d not in REGISTRY]
    if missing:
        raise ValueError(f"dataset kind {kind.name!r} depends on unregistered kinds {missing}; register them first")
    REGISTRY[kind.name] = kind
    return kind


def dataset_kind(name: str) -> DatasetKind:
    """The registered kind called `name`, else ValueError listing the known ones."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; choose from {tuple(REGISTRY)}") from None


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """course_lib.data.<module>.<name>, imported at call time (the dataset modules import torch, music21 ...)."""
    def call(*args: Any, **kw: Any) -> Any:
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)(*args, **kw)

    call.__qualname__ = call.__name__ = f"{module}.{name}"
    return call


def _build_notes(folder: Path, p: dict, profile: str, progress: bool) -> "BuildReport":
    return _lazy("notes", "build_notes")(folder, p["n_notes"], seed=p["seed"], velocities=tuple(p["velocities"]),
                                         progress=progress)


def _build_melodies(folder: Path, p: dict, profile: str, progress: bool) -> "BuildReport":
    return _lazy("melodies", "build_melodies")(folder, p["n_tunes"], seed=p["seed"], progress=progress)


def _build_songs(folder: Path, p: dict, profile: str, progress: bool) -> "BuildReport":
    tunes = _lazy("melodies", "load_melodies")(data_dir("melodies", profile), progress=progress)
    return _lazy("songs", "build_songs")(folder, tunes, p["n_songs"], p["seconds"], seed=p["seed"], progress=progress)


def _build_performances(folder: Path, p: dict, profile: str, progress: bool) -> "BuildReport":
    return _lazy("performances", "build_performances")(folder, p["n_pieces"], data_dir("melodies", profile),
                                                       n_bars=p["n_bars"], seed=p["seed"],
                                                       sample_rate=p["sample_rate"], progress=progress)


def _build_clips(folder: Path, p: dict, profile: str, progress: bool) -> "BuildReport":
    return _lazy("clips", "build_clips")(folder, p["n_clips"], seed=p["seed"], sample_rate=p["sample_rate"],
                                         progress=progress)


# Registered in build order; the parameter dicts keep their key order (the build stamps store them as JSON).
register(DatasetKind(
    "notes", "COURSE_NOTES", "single notes in the NSynth layout (the real NSynth reads the same way)",
    params=lambda d: {"n_notes": d["notes"], "velocities": d["velocities"], "seed": 0},
    build=_build_notes, load=_lazy("notes", "load_notes"),
    check=lambda path, split: _lazy("notes", "load_notes")(path, split=split)))
register(DatasetKind(
    "melodies", "COURSE_MELODIES", "folk tunes and chorales as MIDI (or any folder of MIDI files)",
    params=lambda d: {"n_tunes": d["tunes"], "seed": 0},
    build=_build_melodies, load=_lazy("melodies", "load_melodies"),
    check=lambda path, split: _lazy("melodies", "load_melodies")(path)))
register(DatasetKind(
    "songs", "COURSE_SONGS", "multi-instrument songs rendered from the melodies (or any folder of audio)",
    params=lambda d: {"n_songs": d["songs"], "seconds": d["song_seconds"], "seed": 0, "tunes": d["tunes"]},
    build=_build_songs, load=_lazy("songs", "load_audio_folder"),
    check=lambda path, split: _lazy("songs", "load_audio_folder")(path), depends=("melodies",)))
register(DatasetKind(
    "performances", "COURSE_PERFORMANCES", "synth performances of the melodies with CC automation (or MIDI with CC)",
    params=lambda d: {"n_pieces": d["performances"], "n_bars": d["performance_bars"], "seed": 0,
                      "sample_rate": 16000, "tunes": d["tunes"]},
    build=_build_performances, load=_lazy("performances", "load_performances"),
    check=lambda path, split: _lazy("performances", "load_performances")(path, render_missing=False),
    depends=("melodies",)))
register(DatasetKind(
    "clips", "COURSE_CLIPS", "2-s phrases with known factors: instrument, melody, rhythm",
    # design 2: eight notes a clip, one articulation per note, held-out combinations in test (issue 19)
    params=lambda d: {"n_clips": d["clips"], "seed": 0, "sample_rate": 16000, "design": 2},
    build=_build_clips, load=_lazy("clips", "load_clips"),
    check=lambda path, split: _lazy("clips", "load_clips")(path, progress=True)))
