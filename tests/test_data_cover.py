"""HowTo100M test views ("cover"): as many clips as cover what decodes, the last one aligned to the
video's end, on real files whose annotated duration is right, wrong, or whose download is cut."""
import logging

import pytest

from tests.videos import frame_index, noisy_index_frames, write_cut_in_keyframe, write_video
from timesformer.config import load_config
from timesformer.data import build_dataset, build_loader
from timesformer.data.sampling import clip_span, cover_clip_indices, num_cover_clips

# 4 frames every 4th at 30 fps: a clip spans 13 frames, and consecutive clips start 16 apart.
SMALL = ["TRAIN.DATASET", "howto100m", "TEST.DATASET", "howto100m", "DATA.NUM_FRAMES", "4",
         "DATA.SAMPLING_RATE", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
         "DATA.TRAIN_JITTER_SCALES", "[36, 40]", "MODEL.PATCH_SIZE", "8", "MODEL.NUM_CLASSES", "2",
         "DATA_LOADER.NUM_WORKERS", "0", "TEST.BATCH_SIZE", "4", "TEST.NUM_SPATIAL_CROPS", "1"]


@pytest.mark.parametrize("num_frames,rate", [(8, 32), (4, 8), (4, 4)])
def test_only_a_video_shorter_than_a_clip_repeats_frames(num_frames, rate):
    # Before the fix a 17.1 s video at 8 x 32 (513 frames) had the tail view [512] * 8.
    span = int(clip_span(num_frames, rate, 30, 30))
    for length in range(1, 700):
        views = [cover_clip_indices(length, 30, num_frames, rate, 30, v)
                 for v in range(num_cover_clips(length, num_frames, rate, 30, 30))]
        assert views[-1][-1] == length - 1 and (len(views) == 1 or views[0][0] == 0)  # first to last frame
        for clip in views:
            assert len(set(clip)) == (num_frames if length >= span else len(set(clip)))
            assert clip[0] >= 0 and clip[-1] < length
        assert length < span or len(views) == 1 or views[-2][-1] < views[-1][-1]
    assert cover_clip_indices(513, 30, 8, 32, 30, 2) == [288, 320, 352, 384, 416, 448, 480, 512]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("howto")
    write_video(root / "a.mp4", num_frames=60, fps=30)
    write_video(root / "tail.mp4", num_frames=49, fps=30)  # 3 clips and one frame
    write_video(root / "ten.mp4", num_frames=30, fps=30)
    whole = write_video(root / "whole.mp4", frames=noisy_index_frames(120), fps=30, gop=10, faststart=True)
    write_cut_in_keyframe(whole, root / "cut.mp4", near=0.3)  # 30 of its 120 frames decode
    (root / "test.csv").write_text(
        "a.mp4 0\n"
        "tail.mp4 1\n"
        "ten.mp4 0 6.0\n"      # 1 s annotated as 6 s (180 frames): before the fix 12 views, 10 of
        "a.mp4 1 0.5\n"        # them frame 29 four times; 2 s annotated as 0.5 s: 1 view
        "a.mp4 0 2.1\n"        # 63 frames: within a clip of the 60 that decode, so trusted
        "cut.mp4 1 4.0\n")     # the header and the annotation promise 120 frames, 30 decode
    return root


def _cfg(root, *opts):
    return load_config(None, SMALL + ["DATA.PATH_TO_DATA_DIR", str(root), "DATA.PATH_PREFIX", str(root), *opts])


def _clips(ds, video):
    return [[frame_index(f) for f in ds.read_clip(video, v, None)] for v in range(ds.num_views(video))]


def test_views_cover_what_decodes_and_end_at_the_last_frame(data, caplog):
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(_cfg(data), "test")
    assert [ds.num_views(i) for i in range(6)] == [4, 4, 2, 4, 4, 8]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2  # once per video whose annotation is off by more than a clip, naming it
    assert "ten.mp4" in warned[0] and "6 s" in warned[0] and "30 frames" in warned[0]
    assert "a.mp4" in warned[1] and "0.5 s" in warned[1] and "60 frames" in warned[1]
    assert _clips(ds, 0) == [[0, 4, 8, 12], [16, 20, 24, 28], [32, 36, 40, 44], [47, 51, 55, 59]]
    assert _clips(ds, 1)[-1] == [36, 40, 44, 48]  # was [48, 48, 48, 48]
    assert _clips(ds, 2) == [[0, 4, 8, 12], [17, 21, 25, 29]]
    assert _clips(ds, 3) == _clips(ds, 4) == _clips(ds, 0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_dataset(_cfg(data), "test")[0]
    assert len([r for r in caplog.records if "ten.mp4" in r.getMessage()]) == 1  # a new dataset: once again


def _views(cfg):
    """{(video, view): (valid, frames)} of every item the test loader yields."""
    out = {}
    for batch in build_loader(cfg, "test"):
        views = zip(batch["video_index"].tolist(), batch["view_index"].tolist(), strict=True)
        for j, (video, view) in enumerate(views):
            assert (video, view) not in out
            out[(video, view)] = (bool(batch["valid"][j]), batch["frames"][j])
    return out


def test_views_past_what_decodes_are_not_scored_whichever_worker_reads_them(data):
    # cut.mp4 is planned on its header (120 frames: 8 views); 30 frames decode, which 2 views cover.
    # Every (video, view) item comes once, and the same whether one process or two workers (each
    # learning the real length on its own) read them.
    cfg = _cfg(data, "TEST.SKIP_BAD_VIDEOS", "True", "DATA.MAX_BAD_VIDEO_FRACTION", "1.0")
    one = _views(cfg)
    assert len(one) == 26 and sorted(one) == [(i, v) for i, n in enumerate([4, 4, 2, 4, 4, 8]) for v in range(n)]
    assert [one[(5, v)][0] for v in range(8)] == [True, True] + [False] * 6
    assert all(valid for (video, _), (valid, _) in one.items() if video != 5)
    two = _views(load_config(None, SMALL + ["DATA.PATH_TO_DATA_DIR", str(data), "DATA.PATH_PREFIX", str(data),
                                            "TEST.SKIP_BAD_VIDEOS", "True", "DATA.MAX_BAD_VIDEO_FRACTION", "1.0",
                                            "DATA_LOADER.NUM_WORKERS", "2"]))
    assert sorted(two) == sorted(one)
    for key, (valid, frames) in one.items():
        assert two[key][0] == valid and bool((two[key][1] == frames).all()), key
    ds = build_dataset(cfg, "test")
    # View 1 of the 8 planned is the last that the 30 frames hold; it fits where it was planned, so
    # it stays there (a reader that had not learnt the real length read those frames too).
    assert [frame_index(f) for f in ds.read_clip(5, 1, None)] == [16, 20, 24, 28]
