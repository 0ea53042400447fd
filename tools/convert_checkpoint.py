"""Convert TimeSformer weights between our format, the reference's .pyth layout and a Hugging Face folder.

    python tools/convert_checkpoint.py IN OUT --to {timesformer,pyth,hf}

IN is any file or folder ``timesformer.checkpoint`` reads (our checkpoints, a released .pyth, a
Hugging Face folder or hub id). Tensors are only renamed, never changed, so round trips are exact.
An error is one line, ``error: ...``, naming the file; exit status 2 when IN does not exist or does not state its
number of attention heads (a bare state dict whose width is no preset's: pass --num-heads), 1 when
IN cannot be read or converted (refused, corrupt, a scheme the output layout lacks) or OUT cannot be
written (a full disk).
"""
import argparse
import sys
from typing import List, Optional

from timesformer.checkpoint import FORMATS, read_source, write_weights
from timesformer.errors import LOAD_ERRORS, HeadsUnknownError, WriteError, error_line
from timesformer.utils.logging import setup_logging


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="weights file, Hugging Face folder or hub id")
    p.add_argument("output", help="output file (timesformer, pyth) or folder (hf)")
    p.add_argument("--to", required=True, choices=FORMATS, help="output layout")
    p.add_argument("--num-heads", type=int, default=None,
                   help="attention heads, for inputs that do not state them (reference .pyth: 12 for ViT-B)")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    setup_logging()
    try:
        weights = read_source(args.input)
    except FileNotFoundError as e:
        print(error_line(e), file=sys.stderr)
        return 2
    except LOAD_ERRORS as e:
        print(error_line(e), file=sys.stderr)
        return 1
    if args.num_heads:
        weights.meta["num_heads"] = args.num_heads
    try:
        write_weights(weights, args.output, args.to)
    except HeadsUnknownError as e:  # the head count is not in the file: --num-heads states it
        print(error_line(e), file=sys.stderr)
        return 2
    except WriteError as e:  # names the file and what is intact
        print(error_line(e), file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:
        print(error_line(f"cannot write {args.output} (--to {args.to}): {e}"), file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.to}, {len(weights.state_dict)} tensors, from {weights.layout})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
