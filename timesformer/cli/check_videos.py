"""Scan videos: list the unreadable ones, the truncated ones and those shorter than one clip.

    python tools/check_videos.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml --workers 16
    python tools/check_videos.py --cfg CONFIG --split val DATA.PATH_TO_DATA_DIR /data/k400 DATA.PATH_PREFIX /data/k400
    python tools/check_videos.py /data/k400/videos_val --workers 16
    python tools/check_videos.py /data/k400/val.csv DATA.PATH_PREFIX /data/k400

Without PATH: the split (--split) of the config's dataset, as training and testing read it (its
annotation file, DATA.PATH_PREFIX, its frame windows). With PATH: a video, a folder (every video file
and folder of frames under it) or a CSV of ``path label`` lines (paths under DATA.PATH_PREFIX, as the
datasets read them), each video checked whole against the config's clip length (--cfg, else the
defaults: 8 frames every 32nd at 30 fps). Every video is decoded to the end, or to its first
decoding error (the header's frame count is not trusted); that is the count training and testing use
too. A video is unreadable when no frame decodes, truncated when fewer than 90% of the frames its
duration x fps promises decode (training and testing use those frames); short means its frame window
holds less than one clip (frames will repeat). Exit status 1 when a video is unreadable, 2 when the
config, a PATH or an annotation file is unusable (printed as ``error: ...``).
"""
import argparse
import os
import sys
from typing import List, Optional

from timesformer.cli import common


def build_parser() -> argparse.ArgumentParser:
    """PATH..., --cfg, --split, --workers and trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="videos, folders of videos or CSV files to check (default: the config's --split)")
    common.add_cfg(p, what="config (its dataset and clip length; default: the built-in defaults)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"],
                   help="the split to check when no PATH is given")
    p.add_argument("--workers", type=common.positive_int, default=1,
                   help=f"decoding processes (this machine has {os.cpu_count()} CPUs)")
    common.add_overrides(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Check, print one line per problem and the counts; status 1 when a video is unreadable."""
    from timesformer.config import load_config
    from timesformer.data.check import check_paths, check_split, summary
    from timesformer.engine import check_config

    cfg = check_config(load_config(args.cfg, args.opts))
    if args.paths:
        report, what = check_paths(cfg, args.paths, args.workers), " ".join(args.paths)
    else:
        report, what = check_split(cfg, args.split, args.workers), args.split
    lines, counts = summary(report, what)
    print("\n".join([*lines, counts]))
    return 1 if report["unreadable"] else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
