#!/usr/bin/env python
"""``python tools/check_videos.py ARGS`` is ``timesformer check_videos ARGS``;
the code: timesformer/cli/check_videos.py."""
import sys

from timesformer.cli.check_videos import main

if __name__ == "__main__":
    sys.exit(main())
