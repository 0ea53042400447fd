#!/usr/bin/env python
"""``python tools/export.py ARGS`` is ``timesformer export ARGS``;
the code: timesformer/cli/export.py."""
import sys

from timesformer.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
