"""Atomic writes, digests and file fingerprints: the file-writing helpers every module shares."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it into place only if the block succeeds.

    Works for files and folders: nothing half-written is ever left at `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if not target.exists():
            raise RuntimeError(f"atomic_path: nothing was written to {target}")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _json_default(o: object) -> object:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json_atomic(path: str | os.PathLike, obj: object) -> Path:
    """Write JSON so that a crash never leaves a truncated file."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=False, default=_json_default))
    return Path(path)


def digest(*parts: object) -> str:
    """SHA-1 hex digest of parts (bytes as they are, anything else as str): cache keys and hash splits."""
    h = hashlib.sha1()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def files_fingerprint(folder: str | os.PathLike, problems: list[dict] | None = None) -> str:
    """A digest of every file's relative path, size, mtime, ctime and permissions under `folder` (a cache key part).

    ctime and the permission bits make a chmod (a file becoming readable or not) change the key. An entry that
    cannot be followed (a broken symlink, a symlink loop) never raises: it enters the digest as such and is
    appended to `problems` (when given) as {"file": relative path, "reason": ...}.
    """
    import errno
    import stat as st_

    h = hashlib.sha1()
    folder = Path(folder)
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            try:
                st = os.stat(path)
            except OSError as e:
                try:
                    target = os.readlink(path)
                except OSError:
                    target = "?"
                why = (f"symlink loop (-> {target})" if e.errno == errno.ELOOP
                       else f"broken symlink (-> {target}): the target does not exist" if os.path.islink(path)
                       else f"cannot read it ({e.strerror or e})")
                h.update(f"{rel}\0unreadable\0{why}\n".encode())
                if problems is not None:
                    problems.append({"file": rel, "reason": why})
                continue
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st_.S_IMODE(st.st_mode)}\n".encode())
    return h.hexdigest()[:16]
