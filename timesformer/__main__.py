"""``python -m timesformer TOOL ARGS``: the same as the ``timesformer`` command."""
import sys

from timesformer.cli import main

if __name__ == "__main__":
    sys.exit(main())
