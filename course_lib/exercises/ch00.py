"""Checks for the exercises of notebook 00_start_here."""
from __future__ import annotations

from typing import Any, Callable

from ._harness import NOT_YET, call, verdict


def check_ch00_family_counts(answer: Callable[[], dict[str, int]] | dict[str, int], notes: Any) -> bool:
    """Compare a {family name: number of notes} dict with the notes actually in `notes`."""
    got = call(answer) if callable(answer) else answer
    if got is NOT_YET:
        return False
    if not isinstance(got, dict):
        return verdict(False, "", f"expected a dict like {{'bass': 12, ...}}, got {type(got).__name__}")
    truth: dict[str, int] = {}
    for f in notes.family.tolist():
        name = notes.family_names[f]
        truth[name] = truth.get(name, 0) + 1
    wrong = {k: (got.get(k), v) for k, v in truth.items() if got.get(k) != v}
    extra = sorted(set(got) - set(truth))
    if extra:
        return verdict(False, "", f"these families are not in the split: {extra}. Use notes.family_names[i] for the names.")
    return verdict(not wrong, f"right: {len(truth)} families, {sum(truth.values())} notes.",
                   f"{len(wrong)} families are off, e.g. {dict(list(wrong.items())[:3])} as (yours, true). "
                   "Hint: loop over notes.family and count with a dict or collections.Counter.")
