#!/usr/bin/env python
"""Load your own dataset through the course loaders and list every file they skip or fix.

    python data_scripts/check_dataset.py /path/to/nsynth --kind notes --split valid
    python data_scripts/check_dataset.py /path/to/nottingham_midi --kind melodies
    python data_scripts/check_dataset.py /path/to/one_tune.mid --kind melodies
    python data_scripts/check_dataset.py /path/to/edm_audio --kind songs
    python data_scripts/check_dataset.py /path/to/synth_midi --kind performances
    python data_scripts/check_dataset.py /path/to/clips --kind clips
"""
import sys

from course_lib.data.__main__ import main

sys.exit(main(["check", *sys.argv[1:]]))
