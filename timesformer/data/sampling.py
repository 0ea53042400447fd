"""Which frames make a clip (SPEC §3): pure functions of the video length, fps, parameters and rng.

Indices are on the video's own frame grid. A clip takes ``num_frames`` frames every
``sampling_rate`` frames counted at ``target_fps``, i.e. every ``step = sampling_rate * fps /
target_fps`` frames of the video, so it spans ``(num_frames - 1) * step + 1`` frames. Indices past
the end of a short video are clamped to the last frame (frames repeat; the time scale is kept).
"""
import math
from typing import List, Optional

import numpy as np


def frame_step(sampling_rate: int, target_fps: float, video_fps: float) -> float:
    """Distance in video frames between two sampled frames."""
    return sampling_rate * video_fps / target_fps


def clip_span(num_frames: int, sampling_rate: int, target_fps: float, video_fps: float) -> float:
    """Video frames covered by one clip, first to last sampled frame inclusive."""
    return (num_frames - 1) * frame_step(sampling_rate, target_fps, video_fps) + 1


def _clip_from(start: float, video_frames: int, num_frames: int, step: float) -> List[int]:
    return [min(int(math.floor(start + i * step)), video_frames - 1) for i in range(num_frames)]


def clip_indices(video_frames: int, video_fps: float, num_frames: int, sampling_rate: int,
                 target_fps: float, view: Optional[int] = None, num_views: int = 1,
                 rng: Optional[np.random.Generator] = None) -> List[int]:
    """Kinetics-style clip: random start (``view`` None, training) or view ``view`` of ``num_views``.

    Test views start at ``delta * (view + 0.5) / num_views`` with ``delta`` the free room
    ``video_frames - span``: one view is the middle clip, more are spread evenly.
    """
    step = frame_step(sampling_rate, target_fps, video_fps)
    delta = max(video_frames - clip_span(num_frames, sampling_rate, target_fps, video_fps), 0.0)
    if view is None:
        start = float(rng.uniform(0.0, delta)) if delta > 0 else 0.0
    else:
        if not 0 <= view < num_views:
            raise ValueError(f"view {view} is outside 0..{num_views - 1}")
        start = delta * (view + 0.5) / num_views
    return _clip_from(start, video_frames, num_frames, step)


def segment_indices(video_frames: int, num_frames: int, view: Optional[int] = None,
                    num_views: int = 1, rng: Optional[np.random.Generator] = None) -> List[int]:
    """SSv2 segment sampling: one frame from each of ``num_frames`` equal segments.

    Segment ``i`` runs from ``round(s * i)`` to ``round(s * (i + 1))`` with ``s = (video_frames -
    1) / num_frames``. Training picks a random frame in each (``view`` None); test view ``view`` of
    ``num_views`` picks the point ``(view + 0.5) / num_views`` of the way through each segment, so
    one view is the middle and several views are distinct clips.
    """
    seg = (video_frames - 1) / num_frames
    out = []
    for i in range(num_frames):
        lo, hi = int(round(seg * i)), int(round(seg * (i + 1)))
        if view is None:
            out.append(int(rng.integers(lo, hi + 1)))
        else:
            if not 0 <= view < num_views:
                raise ValueError(f"view {view} is outside 0..{num_views - 1}")
            out.append(lo + int(math.floor((hi - lo) * (view + 0.5) / num_views)))
    return out


def num_cover_clips(video_frames: int, num_frames: int, sampling_rate: int, target_fps: float,
                    video_fps: float) -> int:
    """Non-overlapping clips (each ``num_frames * step`` frames long) needed to cover the video."""
    length = num_frames * frame_step(sampling_rate, target_fps, video_fps)
    return max(1, int(math.ceil(video_frames / length)))


def cover_clip_indices(video_frames: int, video_fps: float, num_frames: int, sampling_rate: int,
                       target_fps: float, view: int) -> List[int]:
    """HowTo100M test clip ``view``: starts at ``view * num_frames * step`` (the last may repeat)."""
    step = frame_step(sampling_rate, target_fps, video_fps)
    return _clip_from(view * num_frames * step, video_frames, num_frames, step)


def window_clips(video_frames: int, video_fps: float, num_frames: int, sampling_rate: int,
                 target_fps: float, stride: Optional[float] = None) -> List[List[int]]:
    """Clips along the whole video, for a timeline of scores: one every ``stride`` video frames.

    The default stride is a clip's length ``num_frames * step``: windows that do not overlap and
    continue one frame grid. Windows follow until one reaches within a length of the end; when that
    last one would run past the end, it moves back to end at the video's last frame, so no window
    is mostly copies of the last frame (a video shorter than one clip has one window, from frame 0).
    """
    step = frame_step(sampling_rate, target_fps, video_fps)
    length = num_frames * step
    stride = length if stride is None else stride
    if stride <= 0:
        raise ValueError(f"stride {stride}: expected a positive number of frames")
    last = max(video_frames - clip_span(num_frames, sampling_rate, target_fps, video_fps), 0.0)
    count = max(1, int(math.ceil((video_frames - length) / stride)) + 1)
    return [_clip_from(min(k * stride, last), video_frames, num_frames, step) for k in range(count)]


def shard_range(total: int, rank: int, world_size: int) -> range:
    """Items ``rank`` evaluates: a contiguous share, every item exactly once over all ranks."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    return range(total * rank // world_size, total * (rank + 1) // world_size)
