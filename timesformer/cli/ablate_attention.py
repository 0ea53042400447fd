#!/usr/bin/env python
"""The paper's Table 1 in miniature: train and test each attention scheme on the synthetic
temporal task, print parameters, GFLOPs per view and test accuracy, and save the table.

    python tools/ablate_attention.py [--cfg configs/Synthetic/quickstart.yaml] [KEY VALUE ...]
"""
import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional

import torch

from timesformer.config import load_config
from timesformer.engine import check_config, launch, preflight, run
from timesformer.errors import ConfigError, error_line
from timesformer.models import SCHEMES, build_model
from timesformer.models.complexity import count_flops, count_params
from timesformer.utils.logging import setup_logging


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cfg", dest="cfg_file", default="configs/Synthetic/quickstart.yaml")
    p.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=list(SCHEMES))
    p.add_argument("--out", default="", help="table file (default: OUTPUT_DIR/ablation.md)")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE pairs")
    return p.parse_args(argv)


def measure(cfg) -> Dict[str, float]:
    """Parameters (M) and GFLOPs of one test view of the model ``cfg`` describes."""
    model = build_model(cfg)
    clip = torch.zeros(1, 3, cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE)
    return {"params_m": count_params(model) / 1e6, "gflops": count_flops(model, clip) / 1e9}


def format_table(rows: List[Dict]) -> str:
    """A Markdown table of the ablation."""
    lines = ["| attention | params (M) | GFLOPs / view | test top-1 (%) | train+test time (s) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['scheme']} | {r['params_m']:.3f} | {r['gflops']:.4f} | {r['top1']:.1f} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    setup_logging()
    rows = []
    try:
        base = check_config(load_config(args.cfg_file, args.opts))
    except ConfigError as e:
        print(error_line(e), file=sys.stderr)
        return 2
    for scheme in args.schemes:
        out = os.path.join(base.OUTPUT_DIR, "ablation", scheme)
        cfg = load_config(args.cfg_file, list(args.opts) + ["TIMESFORMER.ATTENTION_TYPE", scheme,
                                                            "OUTPUT_DIR", out])
        preflight(cfg)
        start = time.perf_counter()
        launch(run, cfg)
        with open(os.path.join(out, "test_results.json")) as f:
            result = json.load(f)
        rows.append({"scheme": scheme, **measure(cfg), "top1": result["top1"],
                     "seconds": time.perf_counter() - start})
        print(f"{scheme}: top-1 {result['top1']:.1f}%", flush=True)
    table = format_table(rows)
    path = args.out or os.path.join(base.OUTPUT_DIR, "ablation.md")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
