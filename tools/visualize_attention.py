#!/usr/bin/env python
"""``python tools/visualize_attention.py ARGS`` is ``timesformer visualize_attention ARGS``;
the code: timesformer/cli/visualize_attention.py."""
import sys

from timesformer.cli.visualize_attention import main

if __name__ == "__main__":
    sys.exit(main())
