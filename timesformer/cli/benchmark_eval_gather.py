r"""Bytes an evaluation sends to rank 0 per view, and what rank 0 holds, for a test protocol.

    python tools/benchmark_eval_gather.py --classes 400 --views-per-video 3 --batch 8
    python tools/benchmark_eval_gather.py --classes 1059 --views-per-video 6 --batch 64

Random logits in batches of ``--batch`` (one rank's TEST.BATCH_SIZE share) over ``--views`` views,
split into ``--ranks`` contiguous shards as the test sampler does; each shard is collected as the
evaluator does (``ViewCollector``) and pickled as ``torch.distributed.gather_object`` pickles it.
For comparison it also pickles one tensor row per view, each a slice of its batch (what one view
cost before views were combined on their rank).
"""
import argparse
import pickle
import sys
from typing import Dict, List, Optional

from timesformer.cli import common


def measure(classes: int, views_per_video: int, views: int, batch: int, ranks: int) -> Dict[str, float]:
    """Pickled bytes per view of every rank's share (now, and as per-view batch slices) and the MiB
    rank 0 receives for ``views`` views."""
    import torch

    from timesformer.data.sampling import shard_range
    from timesformer.engine.evaluator import ViewCollector

    generator = torch.Generator().manual_seed(0)
    keys = [(i // views_per_video, i % views_per_video) for i in range(views)]
    shares, slices = 0, 0
    for rank in range(ranks):
        part = [keys[i] for i in shard_range(views, rank, ranks)]
        collector = ViewCollector(lambda video: views_per_video, "softmax")
        per_view = {}
        for start in range(0, len(part), batch):
            chunk = part[start:start + batch]
            logits = torch.randn(len(chunk), classes, generator=generator)  # (B, C)
            for j, (video, view) in enumerate(chunk):
                collector.add(video, view, logits[j].numpy())
                per_view[(video, view)] = logits[j]
        share = collector.result({"loss_sum": 0.0, "clips": len(part), "skipped_views": 0})
        shares += len(pickle.dumps(share))
        slices += len(pickle.dumps(per_view))
    return {"bytes_per_view": shares / views, "slices_bytes_per_view": slices / views,
            "rank0_mib": shares / 2 ** 20, "slices_every_rank_mib": slices / 2 ** 20}


def build_parser() -> argparse.ArgumentParser:
    """The protocol's sizes."""
    p = common.build(__name__, __doc__)
    p.add_argument("--classes", type=common.positive_int, default=400, help="classes (K400: 400, HowTo100M: 1059)")
    p.add_argument("--views-per-video", type=common.positive_int, default=3, help="test views of each video")
    p.add_argument("--views", type=common.positive_int, default=10_000, help="views evaluated in all")
    p.add_argument("--batch", type=common.positive_int, default=8, help="views per batch on one rank")
    p.add_argument("--ranks", type=common.positive_int, default=8, help="evaluation processes")
    return p


def run(args: argparse.Namespace) -> int:
    """Print one markdown row of the measurement."""
    m = measure(args.classes, args.views_per_video, args.views, args.batch, args.ranks)
    print("| classes | views/video | batch | bytes/view sent | MiB on rank 0 per "
          f"{args.views} views | per-view batch slices: bytes/view | MiB on every rank |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.classes} | {args.views_per_video} | {args.batch} | {m['bytes_per_view']:,.0f} | "
          f"{m['rank0_mib']:,.1f} | {m['slices_bytes_per_view']:,.0f} | {m['slices_every_rank_mib']:,.1f} |")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
