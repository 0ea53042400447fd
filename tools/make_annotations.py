#!/usr/bin/env python
"""``python tools/make_annotations.py ARGS`` is ``timesformer make_annotations ARGS``;
the code: timesformer/cli/make_annotations.py."""
import sys

from timesformer.cli.make_annotations import main

if __name__ == "__main__":
    sys.exit(main())
