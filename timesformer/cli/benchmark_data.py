"""Measure the data loader: clips/s per split and per worker, CPU and frames decoded per clip.

    python tools/benchmark_data.py --make-videos /tmp/kdata   # 8 ten-second 340x256 H.264 files + CSVs
    python tools/benchmark_data.py --make-videos /tmp/kdata_nob --bframes 0   # the same without B-frames
    python tools/benchmark_data.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml \\
        DATA.PATH_TO_DATA_DIR /tmp/kdata DATA.PATH_PREFIX /tmp/kdata DATA_LOADER.NUM_WORKERS 0 NUM_GPUS 0
    python tools/benchmark_data.py --cfg CONFIG --compare ...   # and the old path, side by side, as ratios
    python tools/benchmark_data.py --cfg CONFIG --decoders DATA.DECODING_BACKEND torchcodec \\
        DATA.DECODING_DEVICE cuda ...                          # torchcodec's frames and speed vs PyAV's

It sizes DATA_LOADER.NUM_WORKERS, compares with the old decoding path and compares decoders.
For each split (``--splits``, default train and test) the first max(2, NUM_WORKERS x prefetch_factor)
batches are not timed: they cover worker start-up and the batches the workers load ahead. A test
item is one view (temporal clip x crop); "per video" counts all of a video's views. CPU seconds are
this process's plus its loader workers' (read from /proc, so Linux only). ``--compare`` runs the
old path too (every frame decoded, DATA.SKIP_NONREF_FRAMES False; each test view decoding its own
clip) and prints new / old. One GPU training ViT-B 8x224 at ~240 clips/s needs about that many
clips/s from its loader.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np

from timesformer.cli import common

if TYPE_CHECKING:
    from torch.utils.data import DataLoader


def warmup_batches(loader: DataLoader) -> int:
    """Untimed batches: every worker's prefetched batches are drained first (at least 2)."""
    return max(2, loader.num_workers * (loader.prefetch_factor or 0))


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its live children (the loader's workers)."""
    total = time.process_time()
    for child in multiprocessing.active_children():
        try:
            with open(f"/proc/{child.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, IndexError, ValueError):  # not Linux, or the worker just ended
            pass
    return total


def benchmark(cfg, split: str = "train", batches: int = 50, old: bool = False) -> Dict[str, float]:
    """Time ``batches`` batches of ``split`` after the warm-up ones (``old``: the old decoding path);
    returns clips (items), videos, seconds, CPU seconds, rates and frames decoded per clip."""
    from timesformer.data import build_dataset, build_loader

    if old:
        cfg = cfg.clone()
        cfg.defrost()
        cfg.DATA.SKIP_NONREF_FRAMES = False
    dataset = build_dataset(cfg, split)
    dataset.reuse_decoded_clips = not old
    loader = build_loader(cfg, split, dataset)
    warmup = warmup_batches(loader)
    clips, videos, decoded, it = 0, 0.0, 0, iter(loader)
    for i in range(warmup + batches):
        if i == warmup:
            start, cpu_start = time.perf_counter(), cpu_seconds()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        if i >= warmup:
            clips += batch["frames"].shape[0]
            videos += sum(1 / dataset.num_views(int(v)) for v in batch["video_index"])
            decoded += int(batch["frames_decoded"].sum())
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    del it
    workers = max(1, cfg.DATA_LOADER.NUM_WORKERS)
    temporal_clips = clips if dataset.train else clips / dataset.protocol.spatial_crops
    return {"clips": clips, "videos": videos, "seconds": seconds, "cpu_seconds": cpu,
            "clips_per_s": clips / seconds, "clips_per_s_per_worker": clips / seconds / workers,
            "videos_per_s_per_worker": videos / seconds / workers, "cpu_per_video": cpu / videos,
            "frames_decoded_per_clip": decoded / temporal_clips, "workers": cfg.DATA_LOADER.NUM_WORKERS,
            "warmup": warmup}


def describe(split: str, r: Dict[str, float]) -> str:
    """One line per split, as printed."""
    what = "clips" if split == "train" else "views"
    return (f"{split}: {r['clips']} {what} in {r['seconds']:.2f} s: {r['clips_per_s']:.1f} {what}/s overall, "
            f"{r['clips_per_s_per_worker']:.1f} {what}/s per worker ({r['workers']} workers, after "
            f"{r['warmup']} warm-up batches); {r['videos_per_s_per_worker']:.2f} videos/s per worker, "
            f"{r['cpu_per_video'] * 1000:.0f} ms CPU per video, {r['frames_decoded_per_clip']:.1f} frames "
            "decoded per clip")


def compare(cfg, splits: List[str], batches: int, rounds: int = 2) -> Dict[str, Dict[str, float]]:
    """The old and the new path of every split, alternated ``rounds`` times (so load changes on a
    shared machine fall on both); the ratios new / old of CPU per video and videos/s per worker."""
    totals = {(s, old): {"cpu_seconds": 0.0, "videos": 0.0, "seconds": 0.0, "decoded": 0.0, "clips": 0}
              for s in splits for old in (True, False)}
    for _ in range(rounds):
        for split in splits:
            for old in (True, False):
                r, t = benchmark(cfg, split, batches, old), totals[split, old]
                for key in ("cpu_seconds", "videos", "seconds", "clips"):
                    t[key] += r[key]
                t["decoded"] += r["frames_decoded_per_clip"] * r["clips"]
    out = {}
    for split in splits:
        new, old = totals[split, False], totals[split, True]
        out[split] = {"cpu_per_video_old": old["cpu_seconds"] / old["videos"],
                      "cpu_per_video_new": new["cpu_seconds"] / new["videos"],
                      "cpu_ratio": (new["cpu_seconds"] / new["videos"]) / (old["cpu_seconds"] / old["videos"]),
                      "speed_ratio": (new["videos"] / new["seconds"]) / (old["videos"] / old["seconds"]),
                      "decoded_ratio": (new["decoded"] / new["clips"]) / (old["decoded"] / old["clips"])}
    return out


def compare_decoders(cfg, clips: int = 20, seed: int = 0) -> Dict[str, float]:
    """Random training clips of the train split read by the configured decoder (e.g. torchcodec on
    cuda) and by PyAV on the CPU: the largest and mean absolute pixel difference, clips/s of each."""
    from timesformer.data import build_dataset, decoding
    from timesformer.data.sampling import clip_indices

    dataset, rng = build_dataset(cfg, "train"), np.random.default_rng(seed)
    d, requests, lengths = cfg.DATA, [], {}
    for _ in range(clips):
        path = dataset.records[int(rng.integers(dataset.num_videos))].path
        if path not in lengths:
            lengths[path] = (decoding.count_frames(path), decoding.probe(path, d.FRAMES_FPS).fps)
        frames, fps = lengths[path]
        requests.append((path, clip_indices(frames, fps, d.NUM_FRAMES, d.SAMPLING_RATE, d.TARGET_FPS, rng=rng)))
    reads = {}
    for name, options in (("configured", decoding.read_options(d)), ("pyav", {"backend": "pyav"})):
        start = time.perf_counter()
        reads[name] = [decoding.read_frames(path, idx, **options).astype(np.int16) for path, idx in requests]
        reads[name + "_clips_per_s"] = clips / (time.perf_counter() - start)
    diffs = [np.abs(a - b) for a, b in zip(reads["configured"], reads["pyav"], strict=True)]
    return {"max_abs_diff": float(max(x.max() for x in diffs)),
            "mean_abs_diff": float(np.mean([x.mean() for x in diffs])),
            "configured_clips_per_s": reads["configured_clips_per_s"], "pyav_clips_per_s": reads["pyav_clips_per_s"]}


def make_videos(folder: str, num_videos: int = 8, seconds: float = 10.0, width: int = 340, height: int = 256,
                bframes: int = 3, gop: int = 250) -> None:
    """Kinetics-like files for this benchmark: H.264 at 30 fps with x264's default B-frames (3) and
    keyframe interval (250), a noisy panning texture (~1 Mbit/s), and train/val/test CSVs."""
    import av

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(num_videos):
        texture = np.kron(rng.integers(0, 256, (height // 4 + 8, width // 4 * 3, 3), dtype=np.uint8),
                          np.ones((4, 4, 1), np.uint8))
        with av.open(os.path.join(folder, f"video{k}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"bf": str(bframes), "g": str(gop), "preset": "fast", "crf": "23"}
            for i in range(int(math.ceil(seconds * 30))):
                x, y = (3 * i) % (texture.shape[1] - width), (i // 10) % 8
                frame = texture[y:y + height, x:x + width].astype(np.int16) + rng.integers(-12, 13, (height, width, 3))
                picture = av.VideoFrame.from_ndarray(np.clip(frame, 0, 255).astype(np.uint8), format="rgb24")
                container.mux(stream.encode(picture))
            container.mux(stream.encode())
    for split in ("train", "val", "test"):
        with open(os.path.join(folder, f"{split}.csv"), "w") as f:
            f.writelines(f"video{k}.mp4 {k % 2}\n" for k in range(num_videos))


def build_parser() -> argparse.ArgumentParser:
    """--cfg, what to measure, the benchmark videos' settings, trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    common.add_cfg(p, what="config (its dataset and loader)")
    p.add_argument("--splits", nargs="+", default=["train", "test"], choices=["train", "val", "test"],
                   help="splits to time (default: train test)")
    p.add_argument("--batches", type=common.positive_int, default=50, help="timed batches per split")
    p.add_argument("--compare", action="store_true", help="also run the old decoding path; print new / old")
    p.add_argument("--decoders", action="store_true",
                   help="compare DATA.DECODING_BACKEND / DEVICE with PyAV on random training clips")
    p.add_argument("--make-videos", metavar="DIR", help="write benchmark videos and CSVs to DIR, then stop")
    p.add_argument("--num-videos", type=common.positive_int, default=8, help="--make-videos: how many files")
    p.add_argument("--seconds", type=float, default=10.0, help="--make-videos: length of each, in seconds")
    p.add_argument("--bframes", type=int, default=3, help="B-frames between references (0: none)")
    p.add_argument("--gop", type=common.positive_int, default=250, help="keyframe interval in frames (1: all-intra)")
    common.add_overrides(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Write videos, or measure the loader (and compare)."""
    from timesformer.config import load_config
    from timesformer.engine import check_config

    if args.make_videos:
        make_videos(args.make_videos, args.num_videos, args.seconds, bframes=args.bframes, gop=args.gop)
        print(f"wrote {args.num_videos} videos and train/val/test.csv to {args.make_videos}")
        return 0
    cfg = check_config(load_config(args.cfg, args.opts))
    if args.decoders:
        r = compare_decoders(cfg)
        print(f"{cfg.DATA.DECODING_BACKEND} on {cfg.DATA.DECODING_DEVICE}: {r['configured_clips_per_s']:.1f} "
              f"clips/s; pyav on cpu: {r['pyav_clips_per_s']:.1f} clips/s; pixel difference max "
              f"{r['max_abs_diff']:.0f}, mean {r['mean_abs_diff']:.3f}")
        return 0
    for split in args.splits:
        print(describe(split, benchmark(cfg, split, args.batches)))
    if args.compare:
        for split, r in compare(cfg, args.splits, args.batches).items():
            print(f"{split} new / old: CPU per video {r['cpu_ratio']:.2f}x ({r['cpu_per_video_new'] * 1000:.0f} vs "
                  f"{r['cpu_per_video_old'] * 1000:.0f} ms), videos/s per worker {r['speed_ratio']:.2f}x, "
                  f"frames decoded per clip {r['decoded_ratio']:.2f}x")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
