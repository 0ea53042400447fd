"""Extract per-clip features of every video of a split with a trained TimeSformer: one .npy per video.

    python tools/extract_features.py --cfg configs/HowTo100M/TimeSformer_divST_8x32_224.yaml \
        --weights TimeSformer_divST_8x32_224_HowTo100M.pyth --out feats/ --clips cover NUM_GPUS 8
    python tools/extract_features.py --cfg CFG --weights W --out feats/ --split train --tokens

DIR/<name>.npy holds (clips, D) float32: the final-norm CLS feature of each temporal clip, the test
protocol's crops averaged, clips in time order; <name> is the video's path as the annotation writes
it with '/' turned into '__' (abseiling/x.mp4 -> abseiling__x.mp4.npy). --clips protocol (default):
the config's test clips (Kinetics TEST.NUM_ENSEMBLE_VIEWS clips spread evenly, SSv2 its segment views,
HowTo100M the clips covering the video); --clips cover: clips along the whole video, one every
--stride seconds (default: one clip length, no overlap). --tokens adds DIR/<name>.tokens.npy, (clips,
N, D): the centre crop's final-norm patch tokens in (t, h, w) order. DIR/manifest.jsonl has one line
per video: video, path, file, shape, fps and each clip's [start, end] seconds.

NUM_GPUS N starts N processes (GPUs, or CPUs with gloo), torchrun's are used as they are, and
tools/submit.py --tool extract_features runs it as a SLURM job; each video is extracted by one
process (video i: process i mod their number), written atomically. A rerun skips the videos already
there and says how many. Videos that cannot be read are listed in DIR/failed.jsonl and the others
written; the exit status is then 1. Memory holds one batch of clips per process, whatever a video's
length; DATA_LOADER.NUM_WORKERS processes decode (whole videos each).
"""
import argparse
import os
import sys
from typing import List, Optional

from timesformer.cli import common
from timesformer.config.defaults import PRECISIONS

SPLITS = ("train", "val", "test")
CLIPS = ("protocol", "cover")  # timesformer.features.CLIPS (not imported: --help stays fast)


def build_parser() -> argparse.ArgumentParser:
    """--cfg, --weights, --out and the options; trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    common.add_cfg(p, required=True, what="config naming the data (DATA.PATH_TO_DATA_DIR) and the test protocol")
    p.add_argument("--weights", required=True, help="checkpoint file, Hugging Face folder or hub id")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the .npy files and manifest.jsonl")
    p.add_argument("--split", choices=SPLITS, default="test", help="the split whose videos to extract (default test)")
    p.add_argument("--clips", choices=CLIPS, default="protocol",
                   help="protocol: the config's test clips; cover: clips along the whole video (see --stride)")
    p.add_argument("--stride", type=common.positive_float, default=None, metavar="S",
                   help="--clips cover: seconds from one clip's start to the next (default: one clip length)")
    p.add_argument("--tokens", action="store_true", help="also write the patch tokens, DIR/<name>.tokens.npy")
    p.add_argument("--batch-size", type=common.positive_int, default=8, help="views per forward pass")
    p.add_argument("--precision", choices=PRECISIONS, default="none",
                   help="autocast the model (bf16 on A100/H100, fp16 on V100) for speed")
    common.add_overrides(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Check the arguments and the weights here, then extract on the config's processes."""
    from timesformer.errors import LOAD_ERRORS, UsageError

    if args.stride is not None and args.clips != "cover":
        raise UsageError(f"--stride {args.stride} needs --clips cover (the protocol's clips are placed by the config)")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: a file is there; name a folder (it is created when missing)")
    from timesformer.features import ExtractJob, extract_features
    from timesformer.inference import load_predictor
    from timesformer.utils.logging import setup_logging

    setup_logging()
    with common.usage_errors(*LOAD_ERRORS):  # weights that cannot be used
        predictor = load_predictor(args.weights, args.cfg, args.opts, device="cpu")
    job = ExtractJob(weights=args.weights, cfg_path=args.cfg, opts=tuple(args.opts), out_dir=args.out,
                     split=args.split, clips=args.clips, stride_s=args.stride, tokens=args.tokens,
                     batch_size=args.batch_size, precision=args.precision)
    failed = extract_features(job, predictor)
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
