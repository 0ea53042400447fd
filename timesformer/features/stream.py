"""The clips of each video to extract, decoded and cropped a batch at a time (in loader workers).

Which clips (``CLIPS``):

- ``protocol``: the config's test protocol's temporal clips, as ``tools/run_net.py`` testing scores
  them (``EvalProtocol.clips``): Kinetics / Diving-48 TEST.NUM_ENSEMBLE_VIEWS clips spread evenly,
  SSv2 its segment-sampled views, HowTo100M the non-overlapping clips covering the video.
- ``cover``: clips along the whole video, HowTo100M style, one starting every ``stride`` seconds
  (default: one clip length, ``num_frames * sampling_rate / target_fps`` s, so they touch without
  overlapping), the last moved back to end on the video's last frame (``EvalProtocol.windows``); a
  stride under one frame is a UsageError. A segment-sampled (SSv2) clip already spans the video:
  that protocol has one clip per video.

Either way clips come in time order, inside the annotation's frame window (Diving-48's
start_frame..end_frame), planned on what really decodes (``inference.planned_clips``), each with
the protocol's spatial crops. A worker takes whole videos (video k of the process's list goes to
worker k mod workers) and yields one item per ``clips_per_item`` clips, so memory holds a batch,
never a whole long video, and a video's batches are the same whatever the number of processes or
workers: its features do not depend on them.
"""
import logging
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch
from torch.utils.data import IterableDataset, get_worker_info

from timesformer.config import CfgNode
from timesformer.data import test_protocol
from timesformer.data.datasets.records import frame_window
from timesformer.errors import DecodeError
from timesformer.inference import ClipPlan, VideoClips, planned_clips, window_stride

from .store import SplitVideo

logger = logging.getLogger(__name__)

CLIPS = ("protocol", "cover")


def clip_plan(cfg: CfgNode, clips: str, stride_s: Optional[float], video: SplitVideo) -> ClipPlan:
    """(video frames, fps) -> the frame indices of each clip of ``video`` (``clips`` of CLIPS,
    ``stride_s`` seconds between cover clips, None: one clip length), inside its frame window."""
    if clips not in CLIPS:
        raise ValueError(f"clips {clips!r}: expected one of {CLIPS}")
    protocol = test_protocol(cfg)

    def plan(num_frames: int, fps: float) -> List[List[int]]:
        first, count = frame_window(video.path, video.start_frame, video.end_frame, num_frames)
        if clips == "protocol":
            frames = protocol.clips(count, fps)
        else:
            frames = protocol.windows(count, fps, window_stride(video.path, fps, stride_s))
        return [[first + i for i in clip] for clip in frames]  # (clips, T) in the whole video

    return plan


def video_record(video: SplitVideo, clips: VideoClips, fps: float) -> Dict[str, Any]:
    """A video's manifest line without its arrays: name, path, fps and each clip's start / end seconds."""
    spans = [[round(s, 3), round(e, 3)] for s, e in map(clips.span, range(len(clips)))]
    return {"video": video.name, "path": video.path, "fps": round(fps, 3), "clips": spans}


class ClipBatches(IterableDataset):
    """Items of the videos ``videos``, in order per video: ``{"video": k, "first": first clip,
    "views": (clips * crops, C, T, S, S) uint8, "record": the manifest line (first item only),
    "num_clips": n}``, or ``{"video": k, "error": why}`` for a video that cannot be read (no item
    of it follows)."""

    def __init__(self, videos: Sequence[SplitVideo], cfg: CfgNode, clips: str, stride_s: Optional[float],
                 clips_per_item: int):
        self.videos, self.cfg, self.clips, self.stride_s = list(videos), cfg, clips, stride_s
        self.clips_per_item = max(1, clips_per_item)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for k in range(worker, len(self.videos), workers):
            yield from self._items(k)

    def _items(self, k: int) -> Iterator[Dict[str, Any]]:
        video = self.videos[k]
        try:
            clips, fps, _ = planned_clips(video.path, self.cfg, clip_plan(self.cfg, self.clips, self.stride_s, video))
            record = video_record(video, clips, fps)
            for first in range(0, len(clips), self.clips_per_item):
                part = clips[first:first + self.clips_per_item]
                views = torch.cat([c.crops for c in part])  # (clips * crops, C, T, S, S) uint8
                yield {"video": k, "first": first, "num_clips": len(clips), "views": views,
                       "record": record if first == 0 else None}
        except DecodeError as e:
            logger.warning("%s", e)
            yield {"video": k, "error": str(e)}
