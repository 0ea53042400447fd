"""Convert TimeSformer weights between our format, the reference's .pyth layout and a Hugging Face folder.

    python tools/convert_checkpoint.py TimeSformer_divST_8x32_224_K400.pyth k400_hf --to hf
    python tools/convert_checkpoint.py facebook/timesformer-base-finetuned-k400 k400.pyth --to pyth
    python tools/convert_checkpoint.py reference.pyth ours.pth --to timesformer --num-heads 12
    python tools/convert_checkpoint.py ours.pth my_hf --to hf --push-to-hub me/timesformer-k400

IN is any file or folder ``timesformer.checkpoint`` reads (our checkpoints, a released .pyth, a
Hugging Face folder or hub id). Tensors are only renamed, never changed, so round trips are exact.
``--to hf`` writes what transformers needs (config.json with id2label, preprocessor_config.json, a
model card README.md) and checks the folder's logits against the source model (stated in the card);
``--push-to-hub REPO_ID`` then uploads the folder (logged in: ``hf auth login`` or HF_TOKEN).
An error is one line, ``error: ...``, naming the file; exit status 2 when IN does not exist or does
not state its number of attention heads (a bare state dict whose width is no preset's: pass
--num-heads), 1 when IN cannot be read or converted (refused, corrupt, a scheme the output layout
lacks) or OUT cannot be written (a full disk) or uploaded.
"""
import argparse
import sys
from typing import List, Optional

from timesformer.cli import common

# checkpoint.FORMATS (a test keeps them equal); named here so that --help imports no torch
FORMATS = ("timesformer", "pyth", "hf")


def build_parser() -> argparse.ArgumentParser:
    """IN OUT --to FORMAT."""
    p = common.build(__name__, __doc__)
    p.add_argument("input", help="weights file, Hugging Face folder or hub id")
    p.add_argument("output", help="output file (timesformer, pyth) or folder (hf)")
    p.add_argument("--to", required=True, choices=FORMATS, help="output layout")
    p.add_argument("--num-heads", type=common.positive_int, default=None,
                   help="attention heads, for inputs that do not state them (reference .pyth: 12 for ViT-B)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="then upload the --to hf folder to this hub repo")
    return p


def run(args: argparse.Namespace) -> int:
    """Read, rename, write (and upload); status 2 when IN does not exist or its head count is unknown,
    1 when it cannot be read, OUT written or uploaded."""
    from timesformer.checkpoint import read_source
    from timesformer.checkpoint.hub import push_to_hub
    from timesformer.errors import LOAD_ERRORS, HeadsUnknownError, UploadError, UsageError, WriteError, error_line
    from timesformer.export.hf import export_weights
    from timesformer.utils.logging import setup_logging

    if args.push_to_hub and args.to != "hf":
        raise UsageError("--push-to-hub uploads a Hugging Face folder: use it with --to hf")
    setup_logging()
    try:
        weights = read_source(args.input)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from e
    except LOAD_ERRORS as e:  # refused, corrupt, not weights: the input failed
        print(error_line(e), file=sys.stderr)
        return 1
    if args.num_heads:
        weights.meta["num_heads"] = args.num_heads
    try:
        parity = export_weights(weights, args.output, args.to, source=args.input)
    except HeadsUnknownError as e:  # not in the file and not a preset's width: --num-heads states it
        raise UsageError(str(e)) from e
    except WriteError:  # names the file and what is intact: status 1
        raise
    except (ValueError, OSError) as e:
        print(error_line(f"cannot write {args.output} (--to {args.to}): {e}"), file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.to}, {len(weights.state_dict)} tensors, from {weights.layout})"
          + (f"; logits checked against {parity.against}: max abs diff {parity.max_abs_diff:.1e}" if parity else ""))
    if args.push_to_hub:
        try:
            print(f"uploaded to {push_to_hub(args.output, args.push_to_hub)}")
        except UploadError as e:
            print(error_line(e), file=sys.stderr)
            return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
