#!/usr/bin/env python
"""Measure the training loader: clips/s overall and per worker, to size DATA_LOADER.NUM_WORKERS.

    python tools/benchmark_data.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml
    python tools/benchmark_data.py --cfg CONFIG --batches 100 DATA_LOADER.NUM_WORKERS 16

The first max(2, NUM_WORKERS x prefetch_factor) batches are not timed: they cover worker start-up
and the batches the workers load ahead, which would otherwise inflate the rate. One GPU training
ViT-B 8x224 at ~240 clips/s needs about that many clips/s from its loader.
"""
import argparse
import os
import sys
import time

from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from timesformer.config import load_config  # noqa: E402
from timesformer.data import build_loader  # noqa: E402


def warmup_batches(loader: DataLoader) -> int:
    """Untimed batches: every worker's prefetched batches are drained first (at least 2)."""
    return max(2, loader.num_workers * (loader.prefetch_factor or 0))


def benchmark(cfg, split: str = "train", batches: int = 50) -> dict:
    """Time ``batches`` batches after the warm-up ones; returns clips, seconds and clips/s."""
    loader = build_loader(cfg, split)
    warmup = warmup_batches(loader)
    clips, start, it = 0, None, iter(loader)
    for i in range(warmup + batches):
        if i == warmup:
            start = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        if i >= warmup:
            clips += batch["frames"].shape[0]
    seconds = time.perf_counter() - start
    workers = max(1, cfg.DATA_LOADER.NUM_WORKERS)
    return {"clips": clips, "seconds": seconds, "clips_per_s": clips / seconds,
            "clips_per_s_per_worker": clips / seconds / workers, "workers": cfg.DATA_LOADER.NUM_WORKERS,
            "warmup": warmup}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=None, help="config file")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--batches", type=int, default=50, help="timed batches")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    r = benchmark(load_config(args.cfg, args.opts), args.split, args.batches)
    print(f"{r['clips']} clips in {r['seconds']:.2f} s: {r['clips_per_s']:.1f} clips/s overall, "
          f"{r['clips_per_s_per_worker']:.1f} clips/s per worker ({r['workers']} workers, "
          f"after {r['warmup']} warm-up batches)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
