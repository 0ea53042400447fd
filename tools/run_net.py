#!/usr/bin/env python
"""``python tools/run_net.py ARGS`` is ``timesformer run_net ARGS``;
the code: timesformer/cli/run_net.py."""
import sys

from timesformer.cli.run_net import main

if __name__ == "__main__":
    sys.exit(main())
