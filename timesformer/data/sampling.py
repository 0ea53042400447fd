"""Which frames make a clip (DATASET.md): pure functions of the video length, fps, parameters and rng.

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
    # 1e-9: a clip aligned to the video's end reaches its last frame despite float rounding
    return [min(int(math.floor(start + i * step + 1e-9)), video_frames - 1) for i in range(num_frames)]


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

    Training (``view`` None) picks a random frame in each segment ``round(s * i)``..``round(s * (i +
    1))``, ``s = (video_frames - 1) / num_frames``; one test view takes each segment's middle
    ``(start + end) // 2``. Both are the reference's. Several views: see ``_segment_view``.
    """
    if view is not None and not 0 <= view < num_views:
        raise ValueError(f"view {view} is outside 0..{num_views - 1}")
    if view is not None and num_views > 1:
        return _segment_view(video_frames, num_frames, view, num_views)
    seg = (video_frames - 1) / num_frames
    out = []
    for i in range(num_frames):
        lo, hi = int(round(seg * i)), int(round(seg * (i + 1)))
        out.append(int(rng.integers(lo, hi + 1)) if view is None else (lo + hi) // 2)
    return out


def _segment_view(video_frames: int, num_frames: int, view: int, num_views: int) -> List[int]:
    """Test view ``view`` of ``num_views`` > 1, placed on the continuous axis of the video.

    Frame k is the cell [k, k + 1) of [0, video_frames), cut into ``num_frames`` parts of ``p =
    video_frames / num_frames``. View v takes in part i the point ``p * (i + 0.5) + (v - (V - 1) /
    2) * d``, ``d = max(p / V, 1)``: with parts of at least V frames that is the point ``(v + 0.5) /
    V`` of the way through each part; with shorter parts the views are the middle clip shifted by
    whole frames (clamped to the video). So the views are pairwise different clips whenever the
    video has at least as many frames as there are views, however short its segments.
    """
    part = video_frames / num_frames
    shift = (view - (num_views - 1) / 2) * max(part / num_views, 1.0)
    return [min(max(int(math.floor(part * (i + 0.5) + shift)), 0), video_frames - 1) for i in range(num_frames)]


def clip_length(num_frames: int, sampling_rate: int, target_fps: float, video_fps: float) -> float:
    """Video frames from one clip's start to where the next clip continuing its frame grid starts
    (``num_frames * step``): the stride of cover clips and of timeline windows."""
    return num_frames * frame_step(sampling_rate, target_fps, video_fps)


def num_cover_clips(video_frames: int, num_frames: int, sampling_rate: int, target_fps: float,
                    video_fps: float) -> int:
    """Clips (one every ``clip_length`` frames) needed to cover the video."""
    length = clip_length(num_frames, sampling_rate, target_fps, video_fps)
    return max(1, int(math.ceil(video_frames / length)))


def window_at(video_frames: int, video_fps: float, num_frames: int, sampling_rate: int, target_fps: float,
              start: float) -> List[int]:
    """The clip starting at frame ``start``, moved back to end on the video's last frame when it would
    run past it (from frame 0 in a video shorter than a clip): the windows of :func:`window_clips`
    and the views of :func:`cover_clip_indices`."""
    step = frame_step(sampling_rate, target_fps, video_fps)
    span = clip_span(num_frames, sampling_rate, target_fps, video_fps)
    return _clip_from(max(min(start, video_frames - span), 0.0), video_frames, num_frames, step)


def cover_clip_indices(video_frames: int, video_fps: float, num_frames: int, sampling_rate: int,
                       target_fps: float, view: int, num_views: Optional[int] = None) -> List[int]:
    """HowTo100M test clip ``view`` of ``num_views`` (default: the ``num_cover_clips`` of the video).

    Clip v starts at ``v * num_frames * step``; the last one, and any that would run past the
    video's end, ends on its last frame instead (overlapping the clip before), so only a video
    shorter than one clip repeats frames. The dataset plans ``num_views`` on the header; a view that
    turns out to be the last of a shorter, cut-off file moves only if it does not fit, so a reader
    that learns the real length late picks the same frames as one that knew it from the start.
    """
    if num_views is None:
        num_views = num_cover_clips(video_frames, num_frames, sampling_rate, target_fps, video_fps)
    step = frame_step(sampling_rate, target_fps, video_fps)
    start = view * num_frames * step if view < num_views - 1 else float("inf")  # the last ends on the last frame
    return window_at(video_frames, video_fps, num_frames, sampling_rate, target_fps, start)


def window_clips(video_frames: int, video_fps: float, num_frames: int, sampling_rate: int,
                 target_fps: float, stride: Optional[float] = None) -> List[List[int]]:
    """Clips along the whole video, for a timeline of scores: one every ``stride`` video frames.

    The default stride is a clip's length ``num_frames * step``: windows that do not overlap and
    continue one frame grid. Windows follow until one reaches within a length of the end; when that
    last one would run past the end, it moves back to end at the video's last frame, so no window
    is mostly copies of the last frame (a video shorter than one clip has one window, from frame 0).
    """
    length = clip_length(num_frames, sampling_rate, target_fps, video_fps)
    stride = length if stride is None else stride
    if stride <= 0:
        raise ValueError(f"stride {stride}: expected a positive number of frames")
    count = max(1, int(math.ceil((video_frames - length) / stride)) + 1)  # num_cover_clips at the default stride
    return [window_at(video_frames, video_fps, num_frames, sampling_rate, target_fps, k * stride)
            for k in range(count)]


def shard_range(total: int, rank: int, world_size: int) -> range:
    """Items ``rank`` evaluates: a contiguous share, every item exactly once over all ranks."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    return range(total * rank // world_size, total * (rank + 1) // world_size)
