#!/usr/bin/env python
"""``python tools/submit.py ARGS`` is ``timesformer submit ARGS``;
the code: timesformer/cli/submit.py."""
import sys

from timesformer.cli.submit import main

if __name__ == "__main__":
    sys.exit(main())
