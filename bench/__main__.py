"""``python -m bench``: run the benchmark scenarios (see bench/run.py and README.md)."""

import sys

from bench.run import main

sys.exit(main())
