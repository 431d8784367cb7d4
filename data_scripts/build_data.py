#!/usr/bin/env python
"""Build the course's offline datasets: `python data_scripts/build_data.py [--profile cpu]` (same as `make data`)."""
import sys

from course_lib.data.__main__ import main

sys.exit(main(["build", *sys.argv[1:]]))
