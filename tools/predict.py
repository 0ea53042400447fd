#!/usr/bin/env python
"""``python tools/predict.py ARGS`` is ``timesformer predict ARGS``;
the code: timesformer/cli/predict.py."""
import sys

from timesformer.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
