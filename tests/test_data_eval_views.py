"""Evaluation views: every temporal clip is decoded once for all its crops (in the main process and
across loader workers), and its views are the same as decoding each crop on its own."""
import pytest
import torch

from tests.videos import noisy_index_frames, write_truncated, write_video
from timesformer.config import load_config
from timesformer.data import build_dataset, build_loader
from timesformer.data.build import EvalBatchSampler, ShardSampler

SMALL = ["DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "4", "DATA.TRAIN_CROP_SIZE", "32",
         "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[36, 40]", "MODEL.PATCH_SIZE", "8",
         "MODEL.NUM_CLASSES", "3", "DATA_LOADER.NUM_WORKERS", "0", "TEST.NUM_SPATIAL_CROPS", "3"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Kinetics-style test split: B-frame, portrait, short, VP9 and cut-short files, one missing."""
    root = tmp_path_factory.mktemp("views")
    write_video(root / "b.mp4", frames=noisy_index_frames(90, 40, 56), bframes=3, gop=30)
    write_video(root / "portrait.mp4", frames=noisy_index_frames(70, 56, 40), bframes=2)
    write_video(root / "short.mp4", num_frames=10, fps=30)
    write_video(root / "v.webm", num_frames=45, fps=15, width=48, height=40)
    fast = write_video(root / "fast.mp4", frames=noisy_index_frames(120, 40, 56), gop=10, faststart=True)
    write_truncated(fast, root / "cut.mp4", keep=0.5)
    names = ["b.mp4", "portrait.mp4", "short.mp4", "missing.mp4", "v.webm", "cut.mp4"]
    (root / "test.csv").write_text("".join(f"{n} {k % 3}\n" for k, n in enumerate(names)))
    return root


def _cfg(root, *opts):
    return load_config(None, SMALL + ["TRAIN.DATASET", "kinetics", "TEST.DATASET", "kinetics",
                                      "DATA.PATH_TO_DATA_DIR", str(root), "DATA.PATH_PREFIX", str(root),
                                      "TEST.SKIP_BAD_VIDEOS", "True", "DATA.MAX_BAD_VIDEO_FRACTION", "0.5",
                                      *opts])


def _views(batches):
    """{(video, view): (frames, valid)} and {(video, temporal clip): frames decoded for it}."""
    views, decoded = {}, {}
    for b in batches:
        for j in range(len(b["video_index"])):
            video, view = int(b["video_index"][j]), int(b["view_index"][j])
            assert (video, view) not in views
            views[video, view] = (b["frames"][j], bool(b["valid"][j]))
            decoded[video, view // 3] = decoded.get((video, view // 3), 0) + int(b["frames_decoded"][j] > 0)
    return views, decoded


def test_views_equal_the_per_crop_path(root):
    cfg = _cfg(root, "TEST.NUM_ENSEMBLE_VIEWS", "2")
    shared = build_dataset(cfg, "test")
    alone = build_dataset(cfg, "test")
    alone.reuse_decoded_clips = False  # every view decodes its clip itself, as before
    assert len(shared) == 6 * 6
    for idx in list(range(len(shared))) + [5, 4, 3, 0]:  # in order, then backwards (no stale clip)
        a, b = shared[idx], alone[idx]
        assert a.keys() == b.keys() and a["valid"] == b["valid"] and torch.equal(a["frames"], b["frames"])
        assert (a["video_index"], a["view_index"]) == (b["video_index"], b["view_index"])
    assert not shared[3 * 6]["valid"]  # missing.mp4: skipped, reported
    assert [bad.kind for bad in shared.bad_file_log()] == ["skipped", "truncated"]


@pytest.mark.parametrize("workers,batch", [(0, 4), (2, 1), (2, 2), (3, 5)])
def test_each_temporal_clip_is_decoded_once(root, workers, batch):
    # With one view per batch, a loader hands consecutive views to different workers: before the
    # fix every crop decoded its clip again (3 decodes per clip).
    cfg = _cfg(root, "TEST.NUM_ENSEMBLE_VIEWS", "2", "DATA_LOADER.NUM_WORKERS", str(workers),
               "TEST.BATCH_SIZE", str(batch), "DATA_LOADER.PERSISTENT_WORKERS", "False")
    views, decoded = _views(build_loader(cfg, "test"))
    assert sorted(views) == [(v, k) for v in range(6) for k in range(6)]  # each view exactly once
    readable = {key: n for key, n in decoded.items() if key[0] != 3}
    assert set(readable.values()) == {1}, readable
    reference = build_dataset(cfg, "test")
    reference.reuse_decoded_clips = False
    for (video, view), (frames, valid) in views.items():
        item = reference[video * 6 + view]
        assert valid == item["valid"] and torch.equal(frames, item["frames"])


def test_eval_batches_give_each_worker_one_run():
    # Worker w of W gets batches w, w + W, ... of what the sampler yields: each must be one
    # contiguous run of items, and over all ranks every item comes exactly once.
    for total, world, batch, workers in [(37, 1, 2, 3), (36, 2, 1, 4), (10, 3, 4, 2), (5, 1, 2, 8), (0, 1, 2, 2)]:
        seen = []
        for rank in range(world):
            batches = list(EvalBatchSampler(ShardSampler(total, rank, world), batch, workers))
            assert len(batches) == len(EvalBatchSampler(ShardSampler(total, rank, world), batch, workers))
            assert all(0 < len(b) <= batch for b in batches)
            for w in range(workers):
                run = [i for b in batches[w::workers] for i in b]
                assert run == list(range(run[0], run[0] + len(run))) if run else True
            seen += [i for b in batches for i in b]
        assert sorted(seen) == list(range(total))


def test_cover_views_decode_each_clip_once(tmp_path):
    # HowTo100M: as many clips as cover each video, x 3 crops; a download cut short has views past
    # what decodes (not scored, their crops not read again either).
    from tests.videos import write_cut_in_keyframe

    write_video(tmp_path / "a.mp4", frames=noisy_index_frames(60, 40, 56), bframes=3)
    whole = write_video(tmp_path / "whole.mp4", frames=noisy_index_frames(120, 40, 56), gop=10, faststart=True)
    write_cut_in_keyframe(whole, tmp_path / "cut.mp4", near=0.3)
    (tmp_path / "test.csv").write_text("a.mp4 0\ncut.mp4 1\n")
    opts = ["TRAIN.DATASET", "howto100m", "TEST.DATASET", "howto100m", "TEST.BATCH_SIZE", "1",
            "DATA_LOADER.NUM_WORKERS", "2", "DATA_LOADER.PERSISTENT_WORKERS", "False"]
    cfg = load_config(None, SMALL + opts + ["DATA.PATH_TO_DATA_DIR", str(tmp_path), "DATA.PATH_PREFIX", str(tmp_path)])
    views, decoded = _views(build_loader(cfg, "test"))
    reference = build_dataset(cfg, "test")
    reference.reuse_decoded_clips = False
    assert len(views) == len(reference) == (4 + 8) * 3
    assert [views[1, v][1] for v in range(0, 24, 3)] == [True, True] + [False] * 6  # 30 frames: 2 clips
    assert all(n == 1 for (video, clip), n in decoded.items() if video == 0 or clip < 2), decoded
    for k in range(len(reference)):
        item = reference[k]
        frames, valid = views[item["video_index"], item["view_index"]]
        assert valid == item["valid"] and torch.equal(frames, item["frames"])
