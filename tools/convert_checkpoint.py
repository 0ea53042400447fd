"""Convert TimeSformer weights between our format, the reference's .pyth layout and a Hugging Face folder.

    python tools/convert_checkpoint.py IN OUT --to {timesformer,pyth,hf}

IN is any file or folder ``timesformer.checkpoint`` reads (our checkpoints, a released .pyth, a
Hugging Face folder or hub id). Tensors are only renamed, never changed, so round trips are exact.
"""
import argparse
import logging
import sys
from typing import List, Optional

from timesformer.checkpoint import FORMATS, read_source, write_weights


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
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    weights = read_source(args.input)
    if args.num_heads:
        weights.meta["num_heads"] = args.num_heads
    write_weights(weights, args.output, args.to)
    print(f"wrote {args.output} ({args.to}, {len(weights.state_dict)} tensors, from {weights.layout})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
