#!/usr/bin/env python
"""``python tools/benchmark_data.py ARGS`` is ``timesformer benchmark_data ARGS``;
the code: timesformer/cli/benchmark_data.py."""
import sys

from timesformer.cli.benchmark_data import main

if __name__ == "__main__":
    sys.exit(main())
