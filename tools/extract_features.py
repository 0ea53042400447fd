#!/usr/bin/env python
"""``python tools/extract_features.py ARGS`` is ``timesformer extract_features ARGS``;
the code: timesformer/cli/extract_features.py."""
import sys

from timesformer.cli.extract_features import main

if __name__ == "__main__":
    sys.exit(main())
