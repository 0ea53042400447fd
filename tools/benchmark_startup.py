#!/usr/bin/env python
"""``python tools/benchmark_startup.py ARGS`` is ``timesformer benchmark_startup ARGS``;
the code: timesformer/cli/benchmark_startup.py."""
import sys

from timesformer.cli.benchmark_startup import main

if __name__ == "__main__":
    sys.exit(main())
