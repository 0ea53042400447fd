"""Classify your own videos with a trained TimeSformer.

    python tools/predict.py video.mp4 --weights TimeSformer_divST_8x32_224_K400.pyth --class-names k400
    python tools/predict.py a.mp4 b.mp4 --weights facebook/timesformer-base-finetuned-k400 --json
    python tools/predict.py long.mp4 --weights W --timeline --features feats.npz TEST.NUM_SPATIAL_CROPS 1
    python tools/predict.py long.mp4 --weights W --timeline --stride 2 --smooth 3 --out-video long_labels.mp4

W is our checkpoint, a released .pyth, a Hugging Face folder or hub id. A video is scored with
the config's test protocol (--cfg when given, else the checkpoint's stored config, else defaults),
exactly as tools/run_net.py testing scores it: Kinetics and Diving-48 the middle clip x 3 crops,
SSv2 the middle of each segment x 3 crops, HowTo100M the clips covering the video; the views are
combined by TEST.ENSEMBLE_METHOD (mean softmax by default; a multi-label model, DATA.MULTI_LABEL,
gives each class its own sigmoid probability). --timeline adds the scores of windows
along the whole video: one every clip length (--stride S: every S seconds, overlapping when S is
shorter), the last ending at the video's end; each entry has start_s, end_s and the top classes.
--smooth K averages each window's scores with its neighbours', K windows centred on it (near the
ends, those that exist). --out-video FILE.mp4 writes the video (one video only) with the top classes
of the nearest window drawn on every frame, H.264 at the source frame rate, at most 1280 pixels on
the longer side; it is for looking, and slow on long videos. --stride, --smooth and --out-video
imply --timeline; the video's own score stays the test protocol's. The JSON output states the
protocol and where the class names came from (``class_names_source``). Exit status 1 when any video
could not be read (the others are still reported).
"""
import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from timesformer.cli import common
from timesformer.config.defaults import PRECISIONS
from timesformer.errors import UsageError

if TYPE_CHECKING:
    import torch


def build_parser() -> argparse.ArgumentParser:
    """Videos, --weights and the options; trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    p.add_argument("videos", nargs="+", help="video files or folders of JPEG frames")
    p.add_argument("--weights", required=True, help="checkpoint file, Hugging Face folder or hub id")
    common.add_cfg(p, what="config deciding the clip protocol (optional; default: the checkpoint's)")
    p.add_argument("--topk", type=common.positive_int, default=5, help="classes to print per video")
    p.add_argument("--timeline", action="store_true",
                   help="also score windows along the whole video (one per clip length, the last ending at its end)")
    p.add_argument("--stride", type=common.positive_float, default=None, metavar="SECONDS",
                   help="--timeline: a window every SECONDS (default: one clip length, windows that do not overlap)")
    p.add_argument("--smooth", type=common.positive_int, default=1, metavar="K",
                   help="--timeline: average each window's scores over K windows centred on it (default 1: none)")
    p.add_argument("--out-video", default=None, type=_mp4_file, metavar="FILE.mp4",
                   help="write the video with each frame's timeline classes drawn on it (one video only)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--features", default=None, type=_features_file, metavar="OUT.npz|OUT.pt",
                   help="save each video's final CLS embedding (.npz or .pt)")
    p.add_argument("--class-names", default=None,
                   help="k400, k600, ssv2 or a file with one name per line (default: from the checkpoint, "
                        "else the training data folder's classnames.txt, else guessed by class count and "
                        "said so; never guessed for a model trained on video_list data)")
    p.add_argument("--batch-size", type=common.positive_int, default=8, help="views per forward pass")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    p.add_argument("--precision", choices=PRECISIONS, default="none",
                   help="autocast the model (bf16 on A100/H100, fp16 on V100) for speed")
    common.add_overrides(p)
    return p


def _mp4_file(text: str) -> str:
    if os.path.splitext(text)[1].lower() != ".mp4":
        raise argparse.ArgumentTypeError(f"{text}: the file name must end in .mp4")
    return text


def _features_file(text: str) -> str:
    if os.path.splitext(text)[1] not in (".npz", ".pt"):
        raise argparse.ArgumentTypeError(f"{text}: the file name must end in .npz or .pt")
    return text


def save_features(path: str, videos: List[str], feats: "torch.Tensor") -> None:
    """(V, D) features with their video names -> .npz (``videos``, ``features``) or .pt (same keys)."""
    import numpy as np
    import torch

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".npz"):
        np.savez(path, videos=np.array(videos), features=feats.numpy())
    else:
        torch.save({"videos": videos, "features": feats}, path)


def _text(result: Dict[str, Any], protocol: Dict[str, Any]) -> str:
    what = "score" if protocol["ensemble"] == "sum" else "prob"
    kind = "; multi-label: one sigmoid probability per class" if protocol["multi_label"] else ""
    lines = [f"{result['video']}  ({result['duration_s']:.1f} s, {result['num_clips']} clip(s) x "
             f"{result['num_crops']} crop(s): {protocol['sampling']}, {protocol['ensemble']} ensemble{kind})"]
    lines += [f"  {i + 1}. {t['name']:<40s} {what} {t['score']:.4f}" for i, t in enumerate(result["top"])]
    if result.get("timeline_smooth", 1) > 1:
        lines.append(f"  timeline, each window averaged over {result['timeline_smooth']} windows:")
    for w in result.get("timeline", []):
        best = ", ".join(f"{t['name']} {t['score']:.3f}" for t in w["top"][:3])
        lines.append(f"    window {w['window']:3d}  {w['start_s']:8.2f}-{w['end_s']:8.2f} s  {best}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load the predictor once, score every video; exit status 1 when a video could not be read."""
    import logging

    if args.out_video and len(args.videos) > 1:
        raise UsageError(f"--out-video {args.out_video}: writes one video; give one video (got {len(args.videos)})")
    args.timeline = args.timeline or args.stride is not None or args.smooth > 1 or bool(args.out_video)
    device = common.device(args.device)  # before the library is imported: no GPU answers at once
    import torch

    from timesformer.data import test_protocol
    from timesformer.errors import LOAD_ERRORS, DecodeError, error_line
    from timesformer.inference import load_predictor, predict_video
    from timesformer.utils.strict_json import dumps

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with common.usage_errors(*LOAD_ERRORS):  # weights or class names that cannot be used
        predictor = load_predictor(args.weights, args.cfg, args.opts, args.class_names, str(device))
    protocol = test_protocol(predictor.cfg).describe()
    if not args.json:
        print(predictor.describe_class_names())
    results, failed = [], []
    for video in args.videos:
        try:
            r = predict_video(predictor, video, args.topk, args.batch_size, args.precision, args.timeline,
                              args.stride, args.smooth)
        except DecodeError as e:
            failed.append({"video": video, "error": str(e)})
            print(error_line(e), file=sys.stderr)
            continue
        results.append(r)
        if not args.json:
            print(_text(r, protocol))
    if args.out_video and results:
        from timesformer.visualize.timeline_video import write_timeline_video

        frames = write_timeline_video(args.videos[0], args.out_video, results[0]["timeline"], predictor.cfg.DATA)
        if not args.json:
            print(f"labelled video ({frames} frames) -> {args.out_video}")
    if args.features and results:
        save_features(args.features, [r["video"] for r in results], torch.stack([r["feature"] for r in results]))
        if not args.json:
            print(f"features ({len(results)} x {results[0]['feature'].numel()}) -> {args.features}")
    if args.json:
        keep = [{k: v for k, v in r.items() if k not in ("scores", "feature")} for r in results]
        print(dumps({"weights": args.weights, "protocol": protocol,
                     "class_names_source": predictor.class_names_source, "results": keep, "errors": failed},
                    indent=2))
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
