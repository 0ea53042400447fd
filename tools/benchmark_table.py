#!/usr/bin/env python
"""``python tools/benchmark_table.py ARGS`` is ``timesformer benchmark_table ARGS``;
the code: timesformer/cli/benchmark_table.py."""
import sys

from timesformer.cli.benchmark_table import main

if __name__ == "__main__":
    sys.exit(main())
