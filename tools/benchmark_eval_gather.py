#!/usr/bin/env python
"""``python tools/benchmark_eval_gather.py ARGS`` is ``timesformer benchmark_eval_gather ARGS``;
the code: timesformer/cli/benchmark_eval_gather.py."""
import sys

from timesformer.cli.benchmark_eval_gather import main

if __name__ == "__main__":
    sys.exit(main())
