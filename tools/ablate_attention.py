#!/usr/bin/env python
"""``python tools/ablate_attention.py ARGS`` is ``timesformer ablate_attention ARGS``;
the code: timesformer/cli/ablate_attention.py."""
import sys

from timesformer.cli.ablate_attention import main

if __name__ == "__main__":
    sys.exit(main())
