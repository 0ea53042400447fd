#!/usr/bin/env python
"""``python tools/convert_checkpoint.py ARGS`` is ``timesformer convert_checkpoint ARGS``;
the code: timesformer/cli/convert_checkpoint.py."""
import sys

from timesformer.cli.convert_checkpoint import main

if __name__ == "__main__":
    sys.exit(main())
