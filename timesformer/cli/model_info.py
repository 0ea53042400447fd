#!/usr/bin/env python
"""Print a model's size: parameters, GFLOPs per view, tokens per clip, attention keys per query.

    python tools/model_info.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml
    python tools/model_info.py TIMESFORMER.ATTENTION_TYPE axial MODEL.NUM_CLASSES 174
    python tools/model_info.py --all-schemes MODEL.NUM_CLASSES 174    # the README table
"""
import argparse
import logging
import sys
from typing import List, Optional

import torch

from timesformer.config import load_config, merge_opts
from timesformer.engine import check_config
from timesformer.models import SCHEMES, build_model
from timesformer.models.complexity import count_flops, count_params


def model_info(cfg) -> dict:
    """Size figures of the model a config describes, for one test view at TEST_CROP_SIZE."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.TIMESFORMER.PRETRAINED_MODEL = ""  # sizes only: never load weights
    model = build_model(cfg)
    vit = model.model
    t, size = cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE
    grid = (t, size // vit.patch_size, size // vit.patch_size)
    keys = vit.scheme.keys_per_query(grid)
    return dict(
        scheme=cfg.TIMESFORMER.ATTENTION_TYPE,
        params_m=count_params(model) / 1e6,
        gflops=count_flops(model, torch.zeros(1, 3, t, size, size)) / 1e9,
        tokens=1 + grid[0] * grid[1] * grid[2],
        keys="+".join(str(k) for k in keys),
        clip=f"{t}x{size}",
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=None, help="config YAML (default: the built-in defaults)")
    parser.add_argument("--all-schemes", action="store_true", help="one row per attention scheme")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = check_config(load_config(args.cfg, args.opts))
    schemes = list(SCHEMES) if args.all_schemes else [cfg.TIMESFORMER.ATTENTION_TYPE]
    print("| scheme | clip | classes | params (M) | GFLOPs / view | tokens / clip | keys / query |")
    print("|---|---|---|---|---|---|---|")
    for scheme in schemes:
        c = cfg.clone()
        c.defrost()
        merge_opts(c, ["TIMESFORMER.ATTENTION_TYPE", scheme])
        info = model_info(c)
        print(f"| {info['scheme']} | {info['clip']} | {c.MODEL.NUM_CLASSES} | {info['params_m']:.3f} | "
              f"{info['gflops']:.1f} | {info['tokens']} | {info['keys']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
