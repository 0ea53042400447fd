#!/usr/bin/env python
"""Scan a split's videos: list the unreadable ones, the truncated ones and those shorter than one clip.

    python tools/check_videos.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml --workers 16
    python tools/check_videos.py --cfg CONFIG --split val DATA.PATH_PREFIX /data/k400

Every video is decoded to the end, or to its first decoding error (the header's frame count is not
trusted); that is the count training and testing use too. A video is unreadable when no frame
decodes, truncated when fewer than 90% of the frames its duration x fps promises decode (training
and testing use those frames);
short means its frame window holds less than one clip (frames will repeat). Exit status 1 when a
video is unreadable, 2 when the config or an annotation file is unusable (printed as ``error: ...``).
"""
import argparse
import functools
import os
import sys

from timesformer.config import load_config
from timesformer.data import build_dataset
from timesformer.data.decoding import is_truncated, map_videos, scan_video
from timesformer.data.sampling import clip_span
from timesformer.engine import check_config
from timesformer.errors import AnnotationError, ConfigError, DecodeError, error_line


def check_split(cfg, split: str, workers: int = 1) -> dict:
    """Decode every video of ``split`` in ``workers`` processes -> {"checked": n, "unreadable":
    [(path, reason)], "truncated": [(path, frames, promised)], "short": [(path, frames, needed)]}."""
    dataset = build_dataset(cfg, split)
    d = cfg.DATA
    paths = [record.path for record in dataset.records]
    scan = functools.partial(scan_video, backend=d.DECODING_BACKEND, frames_fps=d.FRAMES_FPS)
    report = {"checked": len(paths), "unreadable": [], "truncated": [], "short": []}
    for i, (path, result) in enumerate(zip(paths, map_videos(scan, paths, workers), strict=True)):
        error = result.error
        if not error:
            try:
                window = dataset.frame_window(i, result.frames)[1]  # the frames clips are sampled from
            except DecodeError as e:
                error = e.reason
        if error:
            report["unreadable"].append((path, error))
            continue
        if is_truncated(result.frames, result.info.num_frames):
            report["truncated"].append((path, result.frames, result.info.num_frames))
        needed = (d.NUM_FRAMES if dataset.sampling == "segment"
                  else int(clip_span(d.NUM_FRAMES, d.SAMPLING_RATE, d.TARGET_FPS, result.info.fps)))
        if window < needed:
            report["short"].append((path, window, needed))
    return report


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--workers {text}: expected a positive number of processes")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=None, help="config file")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--workers", type=_positive, default=1,
                        help=f"decoding processes (this machine has {os.cpu_count()} CPUs)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    try:
        report = check_split(check_config(load_config(args.cfg, args.opts)), args.split, args.workers)
    except (ConfigError, AnnotationError) as e:
        print(error_line(e), file=sys.stderr)
        return 2
    for path, reason in report["unreadable"]:
        print(f"UNREADABLE {path}: {reason}")
    for path, frames, promised in report["truncated"]:
        print(f"TRUNCATED {path}: {frames} of the ~{promised} frames its duration promises decode")
    for path, frames, needed in report["short"]:
        print(f"SHORT {path}: {frames} frames, a clip spans {needed} (frames will repeat)")
    print(f"checked {report['checked']} videos of {args.split}: {len(report['unreadable'])} unreadable, "
          f"{len(report['short'])} shorter than a clip, {len(report['truncated'])} truncated")
    return 1 if report["unreadable"] else 0


if __name__ == "__main__":
    sys.exit(main())
