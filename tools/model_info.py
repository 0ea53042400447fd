#!/usr/bin/env python
"""``python tools/model_info.py ARGS`` is ``timesformer model_info ARGS``;
the code: timesformer/cli/model_info.py."""
import sys

from timesformer.cli.model_info import main

if __name__ == "__main__":
    sys.exit(main())
