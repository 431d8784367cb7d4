#!/usr/bin/env bash
# End-to-end check of `make bundle` on this machine (run by hand: it downloads ~200 MB of wheels):
# builds a bundle for this machine's Python into a temporary folder, makes a fresh virtual environment WITHOUT
# system site packages, lends it this checkout's torch (a .pth file naming a folder of links to torch, torchaudio
# and their own dependencies only: torch is 4.6 GB and a bundle leaves it out by default), runs the bundle's
# install.sh with no package index (PIP_NO_INDEX=1, no pip configuration), then runs a smoke notebook there.
#   data_scripts/check_bundle.sh [WORKDIR] [NOTEBOOK]      (default: a new temporary folder, 00_start_here)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$repo/.venv/bin/python}"
work="${1:-$(mktemp -d)}"; nb="${2:-00_start_here}"
ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
t0=$(date +%s)
[ -f "$work/bundle/install.sh" ] || (cd "$repo" && "$PY" -m course_lib.bundle --python-version "$ver" --out "$work/bundle")
t1=$(date +%s)
rm -rf "$work/venv" "$work/torch-only"
"$PY" -m venv "$work/venv"   # a fresh environment with its own pip, no system site packages
"$PY" - "$work/torch-only" <<'EOF'
import sys
from importlib import metadata
from pathlib import Path
from packaging.requirements import Requirement
out = Path(sys.argv[1]); out.mkdir(parents=True)
todo, seen = ["torch", "torchaudio"], set()
while todo:
    name = todo.pop()
    dist = metadata.distribution(name)
    key = dist.metadata["Name"].lower()
    if key in seen:
        continue
    seen.add(key)
    todo += [Requirement(r).name for r in dist.requires or [] if Requirement(r).marker is None or Requirement(r).marker.evaluate({"extra": ""})]
    for top in {f.parts[0] for f in dist.files or [] if not f.parts[0].startswith("..")}:
        src = Path(dist.locate_file(top))
        if src.exists() and not (out / top).exists():
            (out / top).symlink_to(src)
print(f"torch for the fresh environment: {len(seen)} distributions linked ({', '.join(sorted(seen)[:6])}, ...)")
EOF
site="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$work/torch-only" > "$site/zz_torch_only.pth"
t2=$(date +%s)
# a bare target: an ldconfig that knows no library, so every bundled library is copied and used (LD_LIBRARY_PATH,
# never /etc/ld.so.conf.d/ on this machine); BARE=0 uses this machine's ldconfig instead
mkdir -p "$work/bin"; printf '#!/bin/sh\necho "0 libs found in cache"\n' > "$work/bin/ldconfig"; chmod +x "$work/bin/ldconfig"
[ "${BARE:-1}" = 1 ] && fakepath="$work/bin:" || fakepath=""
rm -rf "$work/lib"
PATH="$fakepath$PATH" PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null bash "$work/bundle/install.sh" \
  --python "$work/venv/bin/python" --repo "$repo" --user-libs --libdir "$work/lib"
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$work/venv/bin/python" -c "
from course_lib.synth import require_fluidsynth; require_fluidsynth()
maps = {l.split()[-1] for l in open('/proc/self/maps') if 'libfluidsynth' in l or 'libglib-2' in l}
print('FluidSynth loaded from:', ', '.join(sorted(maps)))"
t3=$(date +%s)
cd "$repo"
OMP_NUM_THREADS=1 COURSE_PROFILE=smoke COURSE_STATIC=1 MPLBACKEND=Agg PYTHONHASHSEED=0 \
  "$work/venv/bin/python" - "$repo/notebooks/$nb.ipynb" <<'EOF'
import sys, time
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
t = time.time()
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "notebooks"}}).execute()
print(f"{sys.argv[1].split('/')[-1]}: {len(nb.cells)} cells ran in the fresh environment in {time.time() - t:.0f} s")
EOF
t4=$(date +%s)
"$PY" - "$work/bundle" <<EOF
import json, sys
s = json.load(open(sys.argv[1] + "/bundle.json"))
print(f"bundle: {len(s['wheels'])} wheels, {s['wheels_mb']} MB; FluidSynth + {len(s['libraries']) - 1} libraries, "
      f"{s['libraries_tar_mb']} MB tar.xz; build {$t1 - $t0} s, venv {$t2 - $t1} s, install {$t3 - $t2} s, "
      f"notebook {$t4 - $t3} s")
EOF
