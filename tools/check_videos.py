#!/usr/bin/env python
"""Scan a split's videos: list the unreadable ones and those shorter than one clip.

    python tools/check_videos.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml
    python tools/check_videos.py --cfg CONFIG --split val DATA.PATH_PREFIX /data/k400

Every video is decoded to the end (the header's frame count is not trusted). Exit status 1 when a
video is unreadable.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from timesformer.config import load_config  # noqa: E402
from timesformer.data import build_dataset  # noqa: E402
from timesformer.data.decoding import DecodeError, count_frames, probe  # noqa: E402
from timesformer.data.sampling import clip_span  # noqa: E402


def check_split(cfg, split: str) -> dict:
    """{"checked": n, "unreadable": [(path, reason)], "short": [(path, frames, needed)]}."""
    dataset = build_dataset(cfg, split)
    d = cfg.DATA
    report = {"checked": 0, "unreadable": [], "short": []}
    for record in dataset.records:
        report["checked"] += 1
        try:
            fps = probe(record.path, d.FRAMES_FPS).fps
            frames = count_frames(record.path, d.DECODING_BACKEND)
        except DecodeError as e:
            report["unreadable"].append((record.path, e.reason))
            continue
        needed = (d.NUM_FRAMES if dataset.sampling == "segment"
                  else int(clip_span(d.NUM_FRAMES, d.SAMPLING_RATE, d.TARGET_FPS, fps)))
        if frames < needed:
            report["short"].append((record.path, frames, needed))
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=None, help="config file")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = load_config(args.cfg, args.opts)
    report = check_split(cfg, args.split)
    for path, reason in report["unreadable"]:
        print(f"UNREADABLE {path}: {reason}")
    for path, frames, needed in report["short"]:
        print(f"SHORT {path}: {frames} frames, a clip spans {needed} (frames will repeat)")
    print(f"checked {report['checked']} videos of {args.split}: {len(report['unreadable'])} unreadable, "
          f"{len(report['short'])} shorter than a clip")
    return 1 if report["unreadable"] else 0


if __name__ == "__main__":
    sys.exit(main())
