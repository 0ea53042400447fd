#!/usr/bin/env python
"""``python tools/benchmark.py ARGS`` is ``timesformer benchmark ARGS``;
the code: timesformer/cli/benchmark.py."""
import sys

from timesformer.cli.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
