"""Print a model's size: parameters, GFLOPs per view, tokens per clip, attention keys per query.

    python tools/model_info.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml
    python tools/model_info.py TIMESFORMER.ATTENTION_TYPE axial MODEL.NUM_CLASSES 174
    python tools/model_info.py --all-schemes MODEL.NUM_CLASSES 174    # the README table

One test view at DATA.TEST_CROP_SIZE x DATA.NUM_FRAMES. FLOPs follow fvcore's convention (a
multiply-add counts 1; the paper's numbers). Both counts are exact: every block is the same, so they
are counted on models of 1 and 2 blocks and extended to the model's depth (ViT-B answers in seconds).
"""
import argparse
import sys
from typing import Any, Dict, List, Optional

from timesformer.cli import common


def build_parser() -> argparse.ArgumentParser:
    """--cfg, --all-schemes and trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    common.add_cfg(p, what="config (default: the built-in defaults, ViT-B divided 8x224)")
    p.add_argument("--all-schemes", action="store_true", help="one row per attention scheme")
    common.add_overrides(p)
    return p


def model_info(cfg) -> Dict[str, Any]:
    """Size figures of the model a config describes, for one test view at TEST_CROP_SIZE."""
    import torch

    from timesformer.models import TimeSformer, model_kwargs_from_cfg
    from timesformer.models.build import check_model_config
    from timesformer.models.complexity import count_by_depth

    check_model_config(cfg)
    kwargs = model_kwargs_from_cfg(cfg)  # random weights: sizes only

    def make(depth: int) -> torch.nn.Module:
        return TimeSformer(**dict(kwargs, depth=depth))

    t, size = cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE
    vit = make(0).model
    grid = (t, size // vit.patch_size, size // vit.patch_size)
    params, flops = count_by_depth(make, kwargs["depth"], torch.zeros(1, 3, t, size, size))
    return dict(scheme=cfg.TIMESFORMER.ATTENTION_TYPE, params_m=params / 1e6, gflops=flops / 1e9,
                tokens=1 + grid[0] * grid[1] * grid[2], keys="+".join(str(k) for k in vit.scheme.keys_per_query(grid)),
                clip=f"{t}x{size}")


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    import logging

    from timesformer.config import load_config, merge_opts
    from timesformer.config.defaults import ATTENTION_TYPES

    cfg = load_config(args.cfg, args.opts)  # before the model code is imported: a bad key answers at once
    logging.basicConfig(level=logging.WARNING)
    schemes = list(ATTENTION_TYPES) if args.all_schemes else [cfg.TIMESFORMER.ATTENTION_TYPE]
    print("| scheme | clip | classes | params (M) | GFLOPs / view | tokens / clip | keys / query |")
    print("|---|---|---|---|---|---|---|")
    for scheme in schemes:
        c = cfg.clone()
        c.defrost()
        merge_opts(c, ["TIMESFORMER.ATTENTION_TYPE", scheme])
        info = model_info(c)
        print(f"| {info['scheme']} | {info['clip']} | {c.MODEL.NUM_CLASSES} | {info['params_m']:.3f} | "
              f"{info['gflops']:.1f} | {info['tokens']} | {info['keys']} |", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
