"""Classify your own videos with a trained TimeSformer.

    python tools/predict.py VIDEO [VIDEO ...] --weights W [--cfg C] [--topk 5] [--timeline] [--json]
                            [--features OUT.npz|OUT.pt] [--class-names k400|k600|ssv2|FILE]
                            [--precision none|bf16|fp16] [--opts KEY VALUE ...]

W is our checkpoint, a released .pyth, a Hugging Face folder or hub id. A video is scored with
the config's test protocol (--cfg when given, else the checkpoint's stored config, else defaults),
exactly as tools/run_net.py testing scores it: Kinetics and Diving-48 the middle clip x 3 crops,
SSv2 the middle of each segment x 3 crops, HowTo100M the clips covering the video; the views are
combined by TEST.ENSEMBLE_METHOD (mean softmax by default). --timeline adds the scores of windows
along the whole video: one every clip length, the last ending at the video's end. The JSON output
states the protocol and where the class names came from (``class_names_source``). Exit status 1
when any video could not be read (the others are still reported).
"""
import argparse
import logging
import os
import sys
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from timesformer.data import test_protocol
from timesformer.errors import LOAD_ERRORS, DecodeError, error_line
from timesformer.inference import load_predictor, predict_video
from timesformer.utils.strict_json import dumps


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="+", help="video files or folders of JPEG frames")
    p.add_argument("--weights", required=True, help="checkpoint file, Hugging Face folder or hub id")
    p.add_argument("--cfg", default=None, help="config YAML deciding the clip protocol (optional)")
    p.add_argument("--topk", type=int, default=5, help="classes to print per video")
    p.add_argument("--timeline", action="store_true",
                   help="also score windows along the whole video (one per clip length, the last ending at its end)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--features", default=None, help="save each video's final CLS embedding (.npz or .pt)")
    p.add_argument("--class-names", default=None,
                   help="k400, k600, ssv2 or a file with one name per line (default: from the checkpoint, "
                        "else the training data folder's classnames.txt, else by class count)")
    p.add_argument("--batch-size", type=int, default=8, help="views per forward pass")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    p.add_argument("--precision", choices=("none", "bf16", "fp16"), default="none",
                   help="autocast the model (bf16 on A100/H100, fp16 on V100) for speed")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                   help="config overrides KEY VALUE ..., last on the line, e.g. --opts TEST.NUM_SPATIAL_CROPS 1")
    args = p.parse_args(argv)
    if args.features and os.path.splitext(args.features)[1] not in (".npz", ".pt"):
        p.error(f"--features {args.features}: the file name must end in .npz or .pt")
    if args.topk < 1:
        p.error("--topk must be at least 1")
    return args


def save_features(path: str, videos: List[str], feats: torch.Tensor) -> None:
    """(V, D) features with their video names -> .npz (``videos``, ``features``) or .pt (same keys)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".npz"):
        np.savez(path, videos=np.array(videos), features=feats.numpy())
    else:
        torch.save({"videos": videos, "features": feats}, path)


def _text(result: Dict[str, Any], protocol: Dict[str, Any]) -> str:
    what = "score" if protocol["ensemble"] == "sum" else "prob"
    lines = [f"{result['video']}  ({result['duration_s']:.1f} s, {result['num_clips']} clip(s) x "
             f"{result['num_crops']} crop(s): {protocol['sampling']}, {protocol['ensemble']} ensemble)"]
    lines += [f"  {i + 1}. {t['name']:<40s} {what} {t['score']:.4f}" for i, t in enumerate(result["top"])]
    for w in result.get("timeline", []):
        best = ", ".join(f"{t['name']} {t['score']:.3f}" for t in w["top"][:3])
        lines.append(f"    window {w['window']:3d}  {w['start_s']:8.2f}-{w['end_s']:8.2f} s  {best}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        predictor = load_predictor(args.weights, args.cfg, args.opts, args.class_names, args.device)
    except LOAD_ERRORS as e:  # ConfigError is a ValueError
        print(error_line(e), file=sys.stderr)
        return 2
    protocol = test_protocol(predictor.cfg).describe()
    if not args.json:
        print(predictor.describe_class_names())
    results, failed = [], []
    for video in args.videos:
        try:
            r = predict_video(predictor, video, args.topk, args.batch_size, args.precision, args.timeline)
        except DecodeError as e:
            failed.append({"video": video, "error": str(e)})
            print(error_line(e), file=sys.stderr)
            continue
        results.append(r)
        if not args.json:
            print(_text(r, protocol))
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


if __name__ == "__main__":
    sys.exit(main())
