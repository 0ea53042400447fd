"""The paper's Table 1 in miniature: each attention scheme trained and tested on the synthetic task.

    python tools/ablate_attention.py
    python tools/ablate_attention.py --schemes space_only divided_space_time SOLVER.MAX_EPOCH 10

Prints parameters, GFLOPs per view and test accuracy of each scheme, and saves the table.
Each scheme trains in OUTPUT_DIR/ablation/<scheme> with the same config and seed; the table goes to
OUTPUT_DIR/ablation.md (or --out).
"""
import argparse
import sys
from typing import Dict, List, Optional

from timesformer.cli import common
from timesformer.config.defaults import ATTENTION_TYPES


def build_parser() -> argparse.ArgumentParser:
    """--cfg, --schemes, --out and trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    common.add_cfg(p, default="configs/Synthetic/quickstart.yaml", what="config (default: the quick start)")
    p.add_argument("--schemes", nargs="+", default=list(ATTENTION_TYPES), choices=list(ATTENTION_TYPES),
                   help="attention schemes to train (default: all five)")
    p.add_argument("--out", default="", help="table file (default: OUTPUT_DIR/ablation.md)")
    common.add_overrides(p)
    return p


def measure(cfg) -> Dict[str, float]:
    """Parameters (M) and GFLOPs of one test view of the model ``cfg`` describes (model_info's count)."""
    from timesformer.cli.model_info import model_info

    info = model_info(cfg)
    return {"params_m": info["params_m"], "gflops": info["gflops"]}


def format_table(rows: List[Dict]) -> str:
    """A Markdown table of the ablation."""
    lines = ["| attention | params (M) | GFLOPs / view | test top-1 (%) | train+test time (s) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['scheme']} | {r['params_m']:.3f} | {r['gflops']:.4f} | {r['top1']:.1f} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Train and test each scheme in turn, then print and save the table."""
    import json
    import os
    import time

    from timesformer.config import load_config
    from timesformer.engine import check_config, launch_run
    from timesformer.utils.logging import setup_logging

    setup_logging()
    base = check_config(load_config(args.cfg, args.opts))
    rows = []
    for scheme in args.schemes:
        out = os.path.join(base.OUTPUT_DIR, "ablation", scheme)
        opts = list(args.opts) + ["TIMESFORMER.ATTENTION_TYPE", scheme, "OUTPUT_DIR", out]
        cfg = load_config(args.cfg, opts)
        start = time.perf_counter()
        launch_run(cfg, args.cfg, opts)
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


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
