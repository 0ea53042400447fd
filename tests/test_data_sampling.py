"""Clip sampling against hand-worked indices, and the evaluation sharding."""
from itertools import pairwise

import numpy as np
import pytest

from timesformer.data.sampling import (
    clip_indices,
    clip_span,
    cover_clip_indices,
    num_cover_clips,
    segment_indices,
    shard_range,
    window_clips,
)


def test_middle_clip_kinetics_8x32():
    # 300 frames at 30 fps, 8 frames every 32nd: the clip spans 7 * 32 + 1 = 225 frames,
    # 75 frames of room, so the middle clip starts at 37.5.
    assert clip_span(8, 32, 30, 30) == 225
    assert clip_indices(300, 30, 8, 32, 30, view=0, num_views=1) == [37, 69, 101, 133, 165, 197, 229, 261]


def test_clip_maps_target_fps_onto_real_fps():
    # The same 10 s at 60 fps: step 64 frames, span 449, room 151, start 75.5.
    assert clip_indices(600, 60, 8, 32, 30, view=0) == [75, 139, 203, 267, 331, 395, 459, 523]
    # 4 frames at 25 fps: step 32 * 25 / 30 = 26.67, span 81, room 169, start 84.5.
    assert clip_indices(250, 25, 4, 32, 30, view=0) == [84, 111, 137, 164]


def test_views_spread_evenly():
    # Three views of 300 frames: starts 75 * (k + 0.5) / 3 = 12.5, 37.5, 62.5.
    starts = [clip_indices(300, 30, 8, 32, 30, view=k, num_views=3)[0] for k in range(3)]
    assert starts == [12, 37, 62]
    with pytest.raises(ValueError, match="outside"):
        clip_indices(300, 30, 8, 32, 30, view=3, num_views=3)


def test_short_video_repeats_last_frame():
    # A 1 s video (30 frames) cannot hold an 8x32 clip: it starts at 0 and the rest repeat.
    assert clip_indices(30, 30, 8, 32, 30, view=0) == [0, 29, 29, 29, 29, 29, 29, 29]
    rng = np.random.default_rng(0)
    assert clip_indices(30, 30, 8, 32, 30, rng=rng) == [0, 29, 29, 29, 29, 29, 29, 29]


def test_train_clip_is_random_and_inside():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        idx = clip_indices(300, 30, 8, 32, 30, rng=rng)
        assert np.all(np.diff(idx) == 32) and idx[0] >= 0 and idx[-1] <= 299
        starts.add(idx[0])
    assert min(starts) <= 5 and max(starts) >= 70  # the whole room 0..75 is used


def test_segment_sampling_ssv2():
    # 48 frames, 8 segments of 47/8 = 5.875: bounds 0 6 12 18 24 29 35 41 47, middles below.
    assert segment_indices(48, 8, view=0) == [3, 9, 15, 21, 26, 32, 38, 44]
    # Two views take the points 1/4 and 3/4 of the way through each of 8 parts of 48/8 = 6 frames.
    assert segment_indices(48, 8, view=0, num_views=2) == [1, 7, 13, 19, 25, 31, 37, 43]
    assert segment_indices(48, 8, view=1, num_views=2) == [4, 10, 16, 22, 28, 34, 40, 46]
    rng = np.random.default_rng(0)
    bounds = [0, 6, 12, 18, 24, 29, 35, 41, 47]
    for _ in range(50):
        for i, f in enumerate(segment_indices(48, 8, rng=rng)):
            assert bounds[i] <= f <= bounds[i + 1]


def test_segment_sampling_short_video_repeats():
    # 4 frames, 8 segments of 3/8: bounds 0 0 1 1 2 2 2 3 3 (round half to even).
    assert segment_indices(4, 8, view=0) == [0, 0, 1, 1, 2, 2, 2, 3]


def _reference_middle(video_frames, num_frames):
    """The reference's SSv2 test clip (TimeSformer datasets/ssv2.py get_seq_frames, test mode)."""
    seg = float(video_frames - 1) / num_frames
    return [(int(np.round(seg * i)) + int(np.round(seg * (i + 1)))) // 2 for i in range(num_frames)]


def test_one_segment_view_is_the_reference_middle():
    for num_frames in (1, 8, 16, 64):
        for video_frames in range(1, 301):
            assert segment_indices(video_frames, num_frames, view=0) == _reference_middle(video_frames, num_frames)


@pytest.mark.parametrize("num_frames", [1, 8, 64])
@pytest.mark.parametrize("num_views", [2, 3, 10])
def test_segment_views_are_distinct_whenever_the_video_allows(num_frames, num_views):
    # Before the fix, at 64 frames and 3 views only 71 of the lengths 20..200 gave 3 distinct clips.
    for video_frames in range(num_views, 201):  # fewer frames than views cannot give distinct clips
        clips = [segment_indices(video_frames, num_frames, view=v, num_views=num_views)
                 for v in range(num_views)]
        assert len(set(map(tuple, clips))) == num_views, video_frames
        for clip in clips:
            assert len(clip) == num_frames and clip == sorted(clip)
            assert clip[0] >= 0 and clip[-1] < video_frames
    # Long enough, every view is spread over the whole video (first and last part of it).
    spread = [segment_indices(200, 8, view=v, num_views=3) for v in range(3)]
    assert [c[0] for c in spread] == [4, 12, 20] and [c[-1] for c in spread] == [179, 187, 195]


def test_cover_clips_howto100m():
    # 300 frames, 4 frames every 8th: each clip covers 32 frames, 10 clips cover the video.
    assert num_cover_clips(300, 4, 8, 30, 30) == 10
    assert cover_clip_indices(300, 30, 4, 8, 30, view=0) == [0, 8, 16, 24]
    assert cover_clip_indices(300, 30, 4, 8, 30, view=9) == [275, 283, 291, 299]  # ends on the last frame
    assert num_cover_clips(10, 4, 8, 30, 30) == 1
    assert num_cover_clips(320, 4, 8, 30, 30) == 10


def test_timeline_windows_end_aligned():
    # 10 s at 30 fps, 8 frames every 32nd: a window spans 225 frames and owns 256 (8 x 32). The
    # second does not fit at 256, so it ends at the last frame: starts 0 and 300 - 225 = 75.
    assert window_clips(300, 30, 8, 32, 30) == [list(range(0, 225, 32)), list(range(75, 300, 32))]
    # 100 frames, 4 every 8th (span 25, length 32): starts 0, 32, 64, then 75 (not 96).
    windows = window_clips(100, 30, 4, 8, 30)
    assert [w[0] for w in windows] == [0, 32, 64, 75] and windows[-1] == [75, 83, 91, 99]
    assert window_clips(32, 30, 4, 8, 30) == [[0, 8, 16, 24]]  # one length exactly: one window
    assert window_clips(20, 30, 4, 8, 30) == [[0, 8, 16, 19]]  # shorter than a clip: one, from 0
    for n in range(20, 400, 3):  # every frame within a step of a window's frame; none repeats a frame
        windows = window_clips(n, 30, 4, 8, 30)
        assert len(windows) == num_cover_clips(n, 4, 8, 30, 30) and n - 8 <= windows[-1][-1] < n
        assert all(len(set(w)) == 4 for w in windows) or n < 25
        assert all(0 < b[0] - a[0] <= 32 for a, b in pairwise(windows))
    # A stride of half a length: overlapping windows, the last still ends at the end.
    assert [w[0] for w in window_clips(100, 30, 4, 8, 30, stride=16)] == [0, 16, 32, 48, 64, 75]
    with pytest.raises(ValueError, match="stride"):
        window_clips(100, 30, 4, 8, 30, stride=0)


def test_cover_views_are_the_timeline_windows_with_the_last_on_the_end():
    # One definition (sampling.window_at): the cover views are the default-stride windows, except that
    # the last view always ends on the last frame (a window only when it would run past the end).
    for fps in (24, 30, 29.97):
        for n in range(5, 400, 7):
            windows = window_clips(n, fps, 4, 8, 30)
            views = [cover_clip_indices(n, fps, 4, 8, 30, v) for v in range(len(windows))]
            assert views[:-1] == windows[:-1] and views[-1][-1] == n - 1, (n, fps)
            assert windows[-1] == views[-1] or windows[-1][-1] < n - 1


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_cover_every_item_once(world):
    for total in range(0, 12):
        seen = [i for rank in range(world) for i in shard_range(total, rank, world)]
        assert sorted(seen) == list(range(total))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shard_sampler_has_no_padding(world):
    from timesformer.data.build import ShardSampler

    samplers = [ShardSampler(10, rank, world) for rank in range(world)]
    assert sum(len(s) for s in samplers) == 10
    assert sorted(i for s in samplers for i in s) == list(range(10))
