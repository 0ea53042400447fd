"""Export a trained TimeSformer for deployment and check the exported model against PyTorch.

    python tools/export.py --weights W --format onnx [--out F.onnx] [--frames T] [--size S]
                           [--opset 17] [--tolerance 1e-3] [--cfg C] [--opts KEY VALUE ...]

The ONNX model takes a normalised clip ``video`` (B, 3, T, S, S) float32 (any batch size; T and S
as exported, by default the checkpoint's) and returns ``logits`` (B, K) and ``features`` (B, D).
Mean/std, channel order (``channel_order``: rgb, or bgr for the released SSv2 models; the input must
then be BGR), frame count, crop size, class names and ``class_names_source`` are stored in the file's
metadata. After export,
ONNX Runtime runs the file on random clips (batch 1 and 2) and the largest difference from
PyTorch is printed; above the tolerance the tool fails (exit status 1).
"""
import argparse
import logging
import os
import sys
from typing import List, Optional

import torch

from timesformer.errors import LOAD_ERRORS, ExportVerificationError, error_line
from timesformer.export import export_metadata, export_onnx, require_onnx, verify_onnx
from timesformer.inference import load_predictor


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="checkpoint file, Hugging Face folder or hub id")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format")
    p.add_argument("--out", default=None, help="output file (default: the weights' name with .onnx)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: the model's)")
    p.add_argument("--size", type=int, default=None, help="crop size in pixels (default: the test crop)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="largest accepted |ONNX Runtime - PyTorch|, relative to the output scale")
    p.add_argument("--cfg", default=None, help="config YAML (optional; the checkpoint's is used otherwise)")
    p.add_argument("--class-names", default=None, help="k400, k600, ssv2 or a file, stored as metadata")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config overrides KEY VALUE ...")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        require_onnx()  # before the weights: a missing package should not wait for a download
        p = load_predictor(args.weights, args.cfg, args.opts, args.class_names, device="cpu")
    except (*LOAD_ERRORS, ImportError) as e:
        print(error_line(e), file=sys.stderr)
        return 2
    frames = args.frames or p.cfg.DATA.NUM_FRAMES
    size = args.size or p.cfg.DATA.TEST_CROP_SIZE
    try:
        p.model.model.check_input(torch.empty(1, 3, frames, size, size, device="meta"))
    except ValueError as e:
        print(error_line(f"--frames {frames} --size {size}: {e}"), file=sys.stderr)
        return 2
    out = args.out or os.path.splitext(os.path.basename(os.path.normpath(args.weights)))[0] + ".onnx"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    meta = export_metadata(p.cfg, p.class_names, p.model.model.attention_type, p.class_names_source)
    meta.update(num_frames=str(frames), crop_size=str(size))
    export_onnx(p.model, out, frames, size, args.opset, meta)
    inputs = [torch.randn(b, 3, frames, size, size) for b in (1, 2)]
    try:
        diff = verify_onnx(out, p.model, inputs, args.tolerance)
    except ExportVerificationError as e:
        print(error_line(e), file=sys.stderr)
        return 1
    print(f"wrote {out} ({os.path.getsize(out) / 2 ** 20:.1f} MiB, input video (B, 3, {frames}, {size}, {size}), "
          f"outputs logits and features)")
    print(f"ONNX Runtime vs PyTorch: max abs diff {diff:.3g} (tolerance {args.tolerance:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
