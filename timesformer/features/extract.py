"""Per-clip features of every video of a split, sharded over the processes of a job.

Videos are assigned whole, ``video i`` to rank ``i % world`` (``assign``): every clip of a video
is decoded, run and written by one process, the assignment is the same in every process without
any message, and long and short videos mix evenly over the ranks. The processes are those of an
evaluation (``engine.launch``: NUM_GPUS N spawned here on GPUs or CPUs with gloo, torchrun, SLURM).
A video's file holds ``(clips, D)`` float32: the final-norm CLS feature of each temporal clip, the
protocol's spatial crops averaged, clips in time order (see ``stream`` for which clips); with
``tokens`` a second file ``(clips, N, D)`` holds the final-norm patch tokens of the centre crop
(patches from different crops cover different pixels, so they are not averaged), time-major in
(t, h', w') order as ``VisionTransformer.forward_tokens`` returns them. Files, manifest and reruns:
``store``.
"""
import dataclasses
import functools
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from timesformer.data import test_protocol
from timesformer.data.build import dataset_class, worker_context
from timesformer.engine import launch
from timesformer.errors import DecodeError
from timesformer.inference import Predictor, load_predictor, model_input, planned_clips
from timesformer.models import backbone
from timesformer.utils import distributed as du
from timesformer.utils.amp import autocast
from timesformer.utils.logging import setup_logging
from timesformer.utils.progress import Progress

from . import store
from .store import ArrayFile, ManifestPart, SplitVideo
from .stream import ClipBatches, clip_plan, video_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractJob:
    """What to extract and where: the tool's arguments."""

    weights: str
    cfg_path: str
    opts: Tuple[str, ...]
    out_dir: str
    split: str = "test"
    clips: str = "protocol"  # stream.CLIPS
    stride_s: Optional[float] = None  # seconds between cover clips (None: one clip length)
    tokens: bool = False
    batch_size: int = 8  # views per forward pass
    precision: str = "none"


def list_split(cfg, split: str, tokens: bool = False) -> List[SplitVideo]:
    """The videos of ``split`` as its dataset's annotation lists them (no video opened), with their
    output names (``store.split_videos``)."""
    return store.split_videos(dataset_class(cfg, split).list_videos(cfg, split), tokens)


def assign(num_videos: int, rank: int, world: int) -> range:
    """The videos process ``rank`` of ``world`` extracts: every ``world``-th, from ``rank``."""
    return range(rank, num_videos, world)


@torch.no_grad()
def clip_features(p: Predictor, views: torch.Tensor, batch_size: int, precision: str, tokens: bool
                  ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Views (clips * crops, C, T, S, S) uint8 -> CLS features (clips, D), the test protocol's crops
    averaged, and with ``tokens`` the centre crop's patch tokens (clips, N, D); ``batch_size`` views
    per forward pass."""
    protocol = test_protocol(p.cfg)
    crops, centre = protocol.spatial_crops, protocol.crop_positions.index(1)
    vit = backbone(p.model)
    out = []
    for chunk in views.split(batch_size):
        x = model_input(p, chunk)
        with autocast(p.device, precision):
            t = vit.forward_tokens(x) if tokens else vit.forward_features(x)[:, None]  # (b, 1 + N or 1, D)
        out.append(t.float().cpu())
    per_clip = torch.cat(out).view(-1, crops, *out[0].shape[1:])  # (clips, crops, 1 + N or 1, D)
    feats = per_clip[:, :, 0].mean(dim=1)  # (clips, D)
    if not tokens:
        return feats.numpy(), None
    return feats.numpy(), per_clip[:, centre, 1:].numpy()  # (clips, N, D)


class VideoWriter:
    """The files of one video being extracted; ``finish`` writes its manifest line, then renames."""

    def __init__(self, job: ExtractJob, video: SplitVideo, record: Dict[str, Any], num_clips: int):
        self.job, self.video, self.record, self.num_clips = job, video, record, num_clips
        self.files: Dict[str, ArrayFile] = {}

    def write(self, first: int, feats: np.ndarray, tokens: Optional[np.ndarray]) -> None:
        """Rows ``first``.. of the video's arrays (created with the first rows: their width is the model's)."""
        for name, rows in ((self.video.features_file, feats), (self.video.tokens_file, tokens)):
            if rows is None:
                continue
            if name not in self.files:
                self.files[name] = ArrayFile(os.path.join(self.job.out_dir, name), (self.num_clips, *rows.shape[1:]))
            self.files[name].write(first, rows)

    def finish(self, part: ManifestPart) -> None:
        """The manifest line (synced), then the tokens file, then the features file: finished."""
        line = {**self.record, "file": self.video.features_file,
                "shape": list(self.files[self.video.features_file].shape)}
        if self.job.tokens:
            line.update(tokens_file=self.video.tokens_file,
                        tokens_shape=list(self.files[self.video.tokens_file].shape))
        part.add(line)
        for name in sorted(self.files, key=lambda n: n == self.video.features_file):  # features last
            self.files[name].commit()

    def discard(self) -> None:
        """Remove what was written of a video that failed."""
        for f in self.files.values():
            f.discard()


def run_share(job: ExtractJob, p: Predictor, videos: List[SplitVideo], part: ManifestPart) -> int:
    """Extract ``videos`` (this process's share still to do); returns how many could not be read."""
    cfg = p.cfg
    stream = ClipBatches(videos, cfg, job.clips, job.stride_s, job.batch_size // test_protocol(cfg).spatial_crops)
    workers = cfg.DATA_LOADER.NUM_WORKERS
    loader = DataLoader(stream, batch_size=None, num_workers=workers, multiprocessing_context=worker_context(cfg))
    writers: Dict[int, VideoWriter] = {}
    failed, clips = 0, 0
    with Progress(len(videos), "features", cfg.LOG_PERIOD) as progress:
        for item in loader:
            k = item["video"]
            if "error" in item:
                if k in writers:
                    writers.pop(k).discard()
                part.add({"video": videos[k].name, "path": videos[k].path, "error": item["error"]})
                failed += 1
                progress.update(1, {"clips": clips, "failed": failed})
                continue
            if item["first"] == 0:
                writers[k] = VideoWriter(job, videos[k], item["record"], item["num_clips"])
            feats, tokens = clip_features(p, item["views"], job.batch_size, job.precision, job.tokens)
            writers[k].write(item["first"], feats, tokens)
            clips += len(feats)
            if item["first"] + len(feats) == item["num_clips"]:
                writers.pop(k).finish(part)
                progress.update(1, {"clips": clips, "failed": failed})
    return failed


def _describe(job: ExtractJob, cfg, video: SplitVideo) -> Dict[str, Any]:
    """The manifest line of a finished video that has none: its clips planned again, its shapes read."""
    try:
        clips, fps, _ = planned_clips(video.path, cfg, clip_plan(cfg, job.clips, job.stride_s, video))
        line = video_record(video, clips, fps)
    except DecodeError as e:
        logger.warning("%s; its manifest line has no clip times", e)
        line = {"video": video.name, "path": video.path, "clips": None}
    shape = np.load(os.path.join(job.out_dir, video.features_file), mmap_mode="r").shape
    line.update(file=video.features_file, shape=list(shape))
    if job.tokens:
        shape = np.load(os.path.join(job.out_dir, video.tokens_file), mmap_mode="r").shape
        line.update(tokens_file=video.tokens_file, tokens_shape=list(shape))
    return line


def _process(job: ExtractJob, videos: List[SplitVideo], preloaded: Optional[Predictor], cfg,
             device: torch.device) -> None:
    """One process of the job (``engine.launch``): its share, between rank 0's merges of the manifest."""
    setup_logging()
    rank, world = du.get_rank(), du.get_world_size()
    p = (dataclasses.replace(preloaded, model=preloaded.model.to(device), device=device) if preloaded is not None
         else load_predictor(job.weights, job.cfg_path, job.opts, device=str(device)))
    if rank == 0:
        os.makedirs(job.out_dir, exist_ok=True)
        store.remove_unfinished(job.out_dir)
        store.merge_manifest(job.out_dir, videos)  # what an interrupted run left in the parts
    du.synchronize()
    share = [videos[i] for i in assign(len(videos), rank, world)]
    todo = [v for v in share if not store.is_finished(job.out_dir, v, job.tokens)]
    counts = du.all_gather_object(len(todo))
    if rank == 0:
        left = sum(counts)
        logger.info("%d of %d videos of %s already have their features in %s: skipped; extracting %d on %d "
                    "process(es)", len(videos) - left, len(videos), job.split, job.out_dir, left, world)
    run_share(job, p, todo, ManifestPart(job.out_dir, rank))
    store.mark_done(job.out_dir, rank)
    store.wait_done(job.out_dir, world)
    du.synchronize()
    if rank == 0:
        lines, failures = store.merge_manifest(job.out_dir, videos, job.tokens,
                                               functools.partial(_describe, job, p.cfg))
        store.write_failures(job.out_dir, failures)
        logger.info("%s: features of %d videos, listed in %s", job.out_dir, len(lines), store.MANIFEST)
        if failures:
            logger.warning("%d videos could not be read (listed in %s): %s", len(failures),
                           os.path.join(job.out_dir, store.FAILED),
                           "; ".join(f["error"] for f in failures[:5]) + (" ..." if len(failures) > 5 else ""))
    du.synchronize()


def extract_features(job: ExtractJob, predictor: Predictor) -> List[Dict[str, Any]]:
    """Run ``job`` over the processes of ``predictor.cfg`` (NUM_GPUS, NUM_SHARDS, or torchrun's);
    ``predictor`` (loaded once here, on any device) is used as it is by a process running in this
    one. Returns the videos that could not be read (``failed.jsonl``)."""
    cfg = predictor.cfg
    videos = list_split(cfg, job.split, job.tokens)  # names checked before any process starts
    if job.clips == "cover" and test_protocol(cfg).method == "segment":
        logger.warning("TEST.DATASET %s samples segments: each clip spans the whole video, so --clips cover "
                       "gives one clip per video", cfg.TEST.DATASET)
    in_process = du.env_launched() or du.processes_per_machine(cfg) == 1
    launch(functools.partial(_process, job, videos, predictor if in_process else None), cfg)
    return store.read_failures(job.out_dir)
