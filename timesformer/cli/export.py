"""Export a trained TimeSformer for deployment and check the exported model against PyTorch.

    python tools/export.py --weights TimeSformer_divST_8x32_224_K400.pyth --out k400.onnx
    python tools/export.py --weights W --frames 16 --size 448 --opset 17 --tolerance 1e-3

The ONNX model takes a normalised clip ``video`` (B, 3, T, S, S) float32 (any batch size; T and S
as exported, by default the checkpoint's) and returns ``logits`` (B, K) and ``features`` (B, D).
Mean/std, channel order (``channel_order``: rgb, or bgr for the released SSv2 models; the input must
then be BGR), frame count, crop size, class names, ``class_names_source`` (where the names came
from) and ``probability`` (softmax, or sigmoid for a multi-label model) are stored in the file's
metadata. After export, ONNX Runtime runs the file on random clips (batch 1 and 2) and the largest
difference from PyTorch is printed; above the tolerance the tool fails (exit status 1).
"""
import argparse
import sys
from typing import List, Optional

from timesformer.cli import common


def build_parser() -> argparse.ArgumentParser:
    """--weights and the export options; trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    p.add_argument("--weights", required=True, help="checkpoint file, Hugging Face folder or hub id")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format")
    p.add_argument("--out", default=None, help="output file (default: the weights' name with .onnx)")
    p.add_argument("--frames", type=common.positive_int, default=None,
                   help="frames per clip (default: the model's)")
    p.add_argument("--size", type=common.positive_int, default=None,
                   help="crop size in pixels (default: the test crop)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="largest accepted |ONNX Runtime - PyTorch|, relative to the output scale")
    common.add_cfg(p, what="config (optional; default: the checkpoint's)")
    p.add_argument("--class-names", default=None, help="k400, k600, ssv2 or a file, stored as metadata")
    common.add_overrides(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Export, then check the file with ONNX Runtime against PyTorch (exit status 1 above the tolerance)."""
    import logging
    import os

    import torch

    from timesformer.errors import LOAD_ERRORS
    from timesformer.export import export_metadata, export_onnx, require_onnx, verify_onnx
    from timesformer.inference import load_predictor

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with common.usage_errors(*LOAD_ERRORS, ImportError):
        require_onnx()  # before the weights: a missing package should not wait for a download
        p = load_predictor(args.weights, args.cfg, args.opts, args.class_names, device="cpu")
    frames = args.frames or p.cfg.DATA.NUM_FRAMES
    size = args.size or p.cfg.DATA.TEST_CROP_SIZE
    try:
        p.model.model.check_input(torch.empty(1, 3, frames, size, size, device="meta"))
    except ValueError as e:
        raise common.UsageError(f"--frames {frames} --size {size}: {e}") from e
    out = args.out or os.path.splitext(os.path.basename(os.path.normpath(args.weights)))[0] + ".onnx"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    meta = export_metadata(p.cfg, p.class_names, p.model.model.attention_type, p.class_names_source)
    meta.update(num_frames=str(frames), crop_size=str(size))
    export_onnx(p.model, out, frames, size, args.opset, meta)
    inputs = [torch.randn(b, 3, frames, size, size) for b in (1, 2)]
    diff = verify_onnx(out, p.model, inputs, args.tolerance)  # ExportVerificationError: status 1
    print(f"wrote {out} ({os.path.getsize(out) / 2 ** 20:.1f} MiB, input video (B, 3, {frames}, {size}, {size}), "
          f"outputs logits and features)")
    print(f"ONNX Runtime vs PyTorch: max abs diff {diff:.3g} (tolerance {args.tolerance:g})")
    print(p.describe_class_names())
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
