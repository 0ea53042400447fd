"""Write train/val/test annotation files for a folder of your own videos, one subfolder per class.

    python tools/make_annotations.py /data/clips --out /data/clips_lists
    python tools/make_annotations.py /data/clips --out /data/clips_lists --val 0.1 --test 0.2 --seed 1
    python tools/make_annotations.py /data/clips --out /data/clips_lists --scan --workers 8

ROOT/<class>/<video or frame folder> becomes OUT/train.csv, val.csv and test.csv (the video_list
format: lines 'path,class name', paths relative to ROOT) and OUT/classnames.txt (the class folders,
sorted; line k is class k). Videos are the files with a video extension (.mp4, .webm, .mkv, .avi,
.mov, ...) and the folders of JPEG/PNG frames under a class folder, at any depth. Each class is split
on its own (stratified): --val and --test of its videos (rounded, at least one each), train keeping
at least one, so a class of one video is train only and one of two has no test video. The split is
the same for the same --seed on any machine. --scan first decodes every video as check_videos.py
does, lists the unreadable ones and leaves them out (truncated and short videos are listed and
kept; the config (--cfg, overrides) sets the clip length and the decoder). The run_net overrides
that read the files are printed at the end: DATA.PATH_TO_DATA_DIR OUT DATA.PATH_PREFIX ROOT ...
"""
import argparse
import os
import shlex
import sys
from typing import Any, Dict, List, Optional

from timesformer.cli import common


def _fraction(text: str) -> float:
    """An argparse type: a fraction from 0 up to (not including) 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a fraction of the videos, from 0 to below 1 (e.g. 0.1)")
    return value


def build_parser() -> argparse.ArgumentParser:
    """ROOT, --out, the split fractions, --seed, --scan and trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    p.add_argument("root", metavar="ROOT", help="the folder holding one folder of videos per class")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for train.csv, val.csv, test.csv and classnames.txt (DATA.PATH_TO_DATA_DIR)")
    p.add_argument("--val", type=_fraction, default=0.1, help="share of each class's videos for val.csv")
    p.add_argument("--test", type=_fraction, default=0.1, help="share of each class's videos for test.csv")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (same seed, same split)")
    p.add_argument("--scan", action="store_true",
                   help="decode every video first (as check_videos.py) and leave the unreadable ones out")
    p.add_argument("--workers", type=common.positive_int, default=1, help="decoding processes for --scan")
    common.add_cfg(p, what="config for --scan (its clip length and decoder; default: the built-in defaults)")
    common.add_overrides(p)
    return p


def overrides(root: str, out: str, written: Dict[str, Optional[str]], num_classes: int) -> List[str]:
    """The run_net config overrides that train and test on the files ``written`` into ``out``."""
    opts = ["TRAIN.DATASET", "video_list", "TEST.DATASET", "video_list", "DATA.PATH_TO_DATA_DIR", out,
            "DATA.PATH_PREFIX", root, "DATA.PATH_LABEL_SEPARATOR", ",", "MODEL.NUM_CLASSES", str(num_classes)]
    if not written["val"]:
        opts += ["TRAIN.EVAL_PERIOD", "0"]  # no val.csv: no validation
    if not written["test"]:
        opts += ["TEST.ENABLE", "False"]
    return opts


def _report(data: Any, args: argparse.Namespace, written: Dict[str, Optional[str]]) -> List[str]:
    """What was written: each file with its count, the classes too small for every split, the overrides."""
    from timesformer.data.annotate import SPLITS

    asked = [True, args.val > 0, args.test > 0]  # the splits that should hold every class

    lines = []
    for s in SPLITS:
        n = len(data.splits[s])
        lines.append(f"{s}: {n} videos -> {written[s]}" if written[s] else f"{s}: no videos, no {s}.csv written")
    lines.append(f"classes: {len(data.classes)} -> {written['classnames']}")
    small = [f"{name} ({'/'.join(map(str, data.counts(name)))})" for name in data.classes
             if any(want and not n for want, n in zip(asked, data.counts(name), strict=True))]
    if small:
        lines.append(f"{len(small)} class(es) with too few videos for every split, train/val/test: {', '.join(small)}")
    opts = overrides(data.root, os.path.abspath(args.out), written, len(data.classes))
    lines.append(f"DATA.PATH_PREFIX {shlex.quote(data.root)}")
    lines.append(f"run_net overrides: {' '.join(shlex.quote(o) for o in opts)}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Find the classes and videos, scan them (--scan), split and write; status 0 (unreadable videos
    found by --scan are left out, not failures)."""
    from timesformer.data import annotate
    from timesformer.errors import UsageError

    data = annotate.find_classes(args.root)
    if args.scan:
        from timesformer.config import load_config
        from timesformer.data.check import summary
        from timesformer.engine import check_config

        cfg = check_config(load_config(args.cfg, args.opts))
        before = list(data.classes)
        lines, counts = summary(annotate.scan(data, cfg, args.workers), args.root)
        gone = [name for name in before if name not in data.classes]
        lines += [f"{counts}; the unreadable ones are left out"]
        lines += [f"no readable video, left out of the classes: {', '.join(gone)}"] if gone else []
        print("\n".join(lines))
        if not data.classes:
            raise UsageError(f"{args.root}: no video of any class is readable")
    annotate.split(data, args.val, args.test, args.seed)
    written = annotate.write(data, os.path.abspath(args.out))
    print("\n".join(_report(data, args, written)))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
