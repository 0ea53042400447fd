"""Each dataset's annotation parser on small files, bad-data handling and the loader's batches."""
import json
import os

import numpy as np
import pytest
import torch

from tests.conftest import ROOT
from tests.videos import frame_index, write_jpeg_folder, write_truncated, write_video
from timesformer.config import ConfigError, load_config
from timesformer.data import build_dataset, build_loader
from timesformer.data.datasets import AnnotationError, BadVideosError
from timesformer.engine import check_config

SMALL = ["DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "4", "DATA.TRAIN_CROP_SIZE", "32",
         "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[36, 40]", "MODEL.PATCH_SIZE", "8",
         "DATA_LOADER.NUM_WORKERS", "0", "TRAIN.BATCH_SIZE", "2", "TEST.BATCH_SIZE", "4",
         "MODEL.NUM_CLASSES", "3"]


def _cfg(root, dataset, *opts):
    return load_config(None, SMALL + ["TRAIN.DATASET", dataset, "TEST.DATASET", dataset,
                                      "DATA.PATH_TO_DATA_DIR", str(root), *opts])


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three tiny videos: 60 frames at 30 fps, a 1-second one, a VP9 one; and a JPEG folder."""
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "a.mp4", num_frames=60, fps=30)
    write_video(root / "short.mp4", num_frames=30, fps=30)
    write_video(root / "c.webm", num_frames=45, fps=15, width=48, height=64)
    write_jpeg_folder(root / "12345", num_frames=20)
    write_truncated(root / "a.mp4", root / "cut.mp4")
    return root


def _write(path, text):
    path.write_text(text)
    return path


def test_kinetics_csv_and_views(tmp_path, videos):
    _write(tmp_path / "train.csv", "a.mp4 0\nshort.mp4 1\n\nc.webm 2\n")
    _write(tmp_path / "test.csv", "a.mp4 0\nc.webm 2\n")
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "TEST.NUM_ENSEMBLE_VIEWS", "2")
    train = build_dataset(cfg, "train")
    assert train.num_videos == 3 and len(train) == 3 and train.num_classes == 3
    assert train.video_name(2) == "c.webm" and train.video_label(1) == 1 and train.num_views(0) == 1
    test = build_dataset(cfg, "test")
    assert [test.num_views(i) for i in range(2)] == [6, 6] and len(test) == 12
    item = test[1]  # video 0, temporal view 0, centre crop
    assert item["frames"].shape == (3, 4, 32, 32) and item["view_index"] == 1 and item["valid"]


def test_csv_errors_name_the_line(tmp_path, videos):
    _write(tmp_path / "train.csv", "a.mp4 0\na.mp4\n")
    with pytest.raises(AnnotationError, match="train.csv:2"):
        build_dataset(_cfg(tmp_path, "kinetics"), "train")
    _write(tmp_path / "train.csv", "a.mp4 7\n")
    with pytest.raises(AnnotationError, match="outside 0..2"):
        build_dataset(_cfg(tmp_path, "kinetics"), "train")
    with pytest.raises(AnnotationError, match="val.csv not found"):
        build_dataset(_cfg(tmp_path, "kinetics"), "val")


def test_ssv2_json_and_frame_folders(tmp_path, videos):
    labels = {"Pushing something from left to right": "0", "Pulling something": "1",
              "Moving something up": "2"}
    _write(tmp_path / "something-something-v2-labels.json", json.dumps(labels))
    _write(tmp_path / "something-something-v2-validation.json", json.dumps(
        [{"id": "12345", "label": "pulling a cup", "template": "Pulling [something]",
          "placeholders": ["a cup"]}]))
    cfg = _cfg(tmp_path, "ssv2", "DATA.PATH_PREFIX", str(videos), "DATA.RANDOM_FLIP", "False",
               "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "1")
    test = build_dataset(cfg, "test")
    assert test.class_names[1] == "Pulling something" and test.video_label(0) == 1
    assert test.records[0].path == os.path.join(str(videos), "12345")  # the frame folder
    # 20 frames in 4 parts of 5, two views: the points 1/4 and 3/4 of the way through each part.
    first = [frame_index(f) for f in test.read_clip(0, 0, None)]
    second = [frame_index(f) for f in test.read_clip(0, 1, None)]
    assert first == [1, 6, 11, 16] and second == [3, 8, 13, 18]
    with pytest.raises(ConfigError, match="DATA.RANDOM_FLIP"):
        check_config(_cfg(tmp_path, "ssv2"))


def test_ssv2_64_frame_test_views_of_a_short_webm_are_distinct(tmp_path):
    # TimeSformer-L's SSv2 config (64 segments) with 3 test views on a 40-frame webm: before the fix
    # the three clips were identical (segments shorter than a frame).
    write_video(tmp_path / "777.webm", num_frames=40, fps=12)
    _write(tmp_path / "something-something-v2-labels.json", json.dumps({"Pulling something": "0"}))
    _write(tmp_path / "something-something-v2-validation.json", json.dumps(
        [{"id": "777", "label": "pulling a cup", "template": "Pulling [something]"}]))
    cfg = load_config(os.path.join(ROOT, "configs", "SSv2", "TimeSformer_divST_64_224.yaml"), [
        "DATA.PATH_TO_DATA_DIR", str(tmp_path), "DATA.PATH_PREFIX", str(tmp_path), "MODEL.NUM_CLASSES", "1",
        "TEST.NUM_ENSEMBLE_VIEWS", "3", "TEST.NUM_SPATIAL_CROPS", "1", "NUM_GPUS", "0"])
    test = build_dataset(cfg, "test")
    assert test.num_views(0) == 3
    clips = [[frame_index(f) for f in test.read_clip(0, v, None)] for v in range(3)]
    assert len({tuple(c) for c in clips}) == 3
    for clip in clips:
        assert len(clip) == 64 and clip == sorted(clip) and set(clip) <= set(range(40))
    assert clips[1][0] == 0 and clips[1][-1] == 39  # the middle view spans the whole video


def test_diving48_json(tmp_path, videos):
    entries = [{"vid_name": "a", "label": 1, "start_frame": 0, "end_frame": 59}]
    _write(tmp_path / "Diving48_V2_test.json", json.dumps(entries))
    _write(tmp_path / "Diving48_vocab.json", json.dumps([["Back", "15som", "NoTwis", "PIKE"]] * 3))
    ds = build_dataset(_cfg(tmp_path, "diving48", "DATA.PATH_PREFIX", str(videos)), "val")
    assert ds.records[0].path == os.path.join(str(videos), "a.mp4") and ds.video_label(0) == 1
    assert ds.class_names[0] == "Back 15som NoTwis PIKE" and ds[0]["frames"].shape == (3, 4, 32, 32)
    _write(tmp_path / "Diving48_V2_test.json", json.dumps([{**entries[0], "end_frame": -3}]))
    with pytest.raises(AnnotationError, match="Diving48_V2_test.json: entry 0 .*end_frame -3"):
        build_dataset(_cfg(tmp_path, "diving48"), "val")


def test_diving48_samples_inside_start_and_end_frame(tmp_path):
    write_video(tmp_path / "long.mp4", num_frames=90, fps=30, gop=250)
    entries = [{"vid_name": "long", "label": 0, "start_frame": 10, "end_frame": 39},
               {"vid_name": "long", "label": 1, "start_frame": 80, "end_frame": 200},  # past the end
               {"vid_name": "long", "label": 2, "start_frame": 95, "end_frame": 120}]  # after the end
    for split in ("train", "test"):  # val reads the test file
        _write(tmp_path / f"Diving48_V2_{split}.json", json.dumps(entries))
    cfg = _cfg(tmp_path, "diving48", "DATA.PATH_PREFIX", str(tmp_path), "DATA.MAX_BAD_VIDEO_FRACTION", "1.0")
    # 4 frames every 4th span 13; the window 10..39 has 30 frames, the middle clip starts 8.5 in
    # (the whole video's middle clip would be 38, 42, 46, 50).
    val = build_dataset(cfg, "val")
    assert [frame_index(f) for f in val.read_clip(0, 0, None)] == [18, 22, 26, 30]
    assert [frame_index(f) for f in val.read_clip(1, 0, None)] == [80, 84, 88, 89]  # frames 80..89
    train = build_dataset(cfg, "train")
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(30):
        clip = [frame_index(f) for f in train.read_clip(0, None, rng)]
        assert clip[0] >= 10 and clip[-1] <= 39 and np.all(np.diff(clip) == 4)
        starts.add(clip[0])
    assert len(starts) > 5  # random positions, all inside the window
    assert not train.bad_file_log()
    assert val[2]["valid"] is False  # the window starts after the last frame: a bad file, skipped
    assert "window starts at frame 95" in val.bad_file_log()[0].reason


def test_howto100m_covers_each_video(tmp_path, videos):
    # 4 frames every 4th: a clip covers 16 frames; 60 frames need 4 clips, 30 need 2, 45 at 15 fps
    # (3 s) need 6 (counted at TARGET_FPS 30); a duration column far from what decodes is overruled.
    _write(tmp_path / "test.csv", "a.mp4 0\nshort.mp4 1\nc.webm 2\na.mp4 0 10.0\n")
    cfg = _cfg(tmp_path, "howto100m", "DATA.PATH_PREFIX", str(videos), "TEST.NUM_SPATIAL_CROPS", "1")
    ds = build_dataset(cfg, "test")
    assert [ds.num_views(i) for i in range(4)] == [4, 2, 6, 4]
    last = ds[3]  # video 0, clip 3: frames 47, 51, 55, 59 (it ends on the last frame)
    assert [frame_index(f) for f in ds.read_clip(0, 3, None)] == [47, 51, 55, 59]
    assert last["view_index"] == 3 and last["video_index"] == 0


def test_video_list_class_names(tmp_path, videos):
    _write(tmp_path / "train.csv", f"{videos}/a.mp4,jump\n{videos}/12345,run\n{videos}/c.webm,jump\n")
    _write(tmp_path / "val.csv", f"{videos}/short.mp4,run\n")
    cfg = _cfg(tmp_path, "video_list", "DATA.PATH_LABEL_SEPARATOR", ",")
    ds = build_dataset(cfg, "val")
    assert ds.class_names == ["jump", "run"] and ds.video_label(0) == 1
    _write(tmp_path / "classnames.txt", "run\njump\nswim\n")
    train = build_dataset(cfg, "train")
    assert [train.video_label(i) for i in range(3)] == [1, 0, 1] and train.num_classes == 3
    assert train[1]["frames"].shape == (3, 4, 32, 32)  # the JPEG folder
    _write(tmp_path / "val.csv", f"{videos}/short.mp4,fly\n")
    with pytest.raises(AnnotationError, match="fly"):
        build_dataset(cfg, "val")


def test_train_replaces_bad_videos_and_reports_them(tmp_path, videos):
    _write(tmp_path / "train.csv", "missing.mp4 0\ncut.mp4 1\na.mp4 2\n")
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "DATA.MAX_BAD_VIDEO_FRACTION", "1.0")
    ds = build_dataset(cfg, "train")
    torch.manual_seed(0)
    items = [ds[i] for i in range(3)]
    assert items[2]["num_replaced"] == 0 and items[2]["video_index"] == 2
    for item in items[:2]:
        assert item["num_replaced"] >= 1 and item["video_index"] == 2 and item["label"] == 2
    assert set(ds.bad_files) == {str(videos / "missing.mp4"), str(videos / "cut.mp4")}
    log = {bad.path: bad for bad in ds.bad_file_log()}
    assert {bad.kind for bad in log.values()} == {"replaced"}
    assert "does not exist" in log[str(videos / "missing.mp4")].reason


def test_train_stops_past_the_bound(tmp_path, videos):
    _write(tmp_path / "train.csv", "missing.mp4 0\ncut.mp4 1\n")
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "DATA.MAX_BAD_VIDEO_RETRIES", "3",
               "DATA.MAX_BAD_VIDEO_FRACTION", "1.0")
    with pytest.raises(BadVideosError, match="MAX_BAD_VIDEO_RETRIES") as e:
        build_dataset(cfg, "train")[0]
    assert "missing.mp4" in str(e.value) and "cut.mp4" in str(e.value)


def test_stops_when_too_many_distinct_videos_are_bad(tmp_path, videos):
    # 2 of 10 videos bad: a fraction of 0.2 allows them, 0.1 stops at the second with both listed.
    _write(tmp_path / "train.csv", "missing.mp4 0\n" + "a.mp4 1\n" * 8 + "cut.mp4 2\n")
    allowed = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "DATA.MAX_BAD_VIDEO_FRACTION", "0.2")
    ds = build_dataset(allowed, "train")
    assert ds[0]["num_replaced"] >= 1 and ds[9]["num_replaced"] >= 1
    strict = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "DATA.MAX_BAD_VIDEO_FRACTION", "0.1")
    ds = build_dataset(strict, "train")
    assert ds[0]["num_replaced"] == 1  # 1 of 10 is not more than 0.1
    with pytest.raises(BadVideosError, match=r"2 of the 10 videos .* DATA.MAX_BAD_VIDEO_FRACTION = 0.1\)") as e:
        ds[9]
    assert "missing.mp4: " in str(e.value) and "cut.mp4: " in str(e.value)
    with pytest.raises(ConfigError, match="DATA.MAX_BAD_VIDEO_FRACTION"):
        check_config(_cfg(tmp_path, "kinetics", "DATA.MAX_BAD_VIDEO_FRACTION", "1.5"))


def test_test_split_bad_video_errors_or_is_skipped(tmp_path, videos):
    _write(tmp_path / "test.csv", "a.mp4 0\ncut.mp4 1\n")
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "TEST.NUM_SPATIAL_CROPS", "1")
    with pytest.raises(BadVideosError, match="cut.mp4.*TEST.SKIP_BAD_VIDEOS"):
        build_dataset(cfg, "test")[1]
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "TEST.NUM_SPATIAL_CROPS", "1",
               "TEST.SKIP_BAD_VIDEOS", "True", "DATA.MAX_BAD_VIDEO_FRACTION", "0.5")
    loader = build_loader(cfg, "test")
    batch = next(iter(loader))
    assert batch["valid"].tolist() == [True, False] and batch["frames"].shape == (2, 3, 4, 32, 32)
    assert batch["frames"][1].sum() == 0
    assert [(b.path, b.kind) for b in loader.dataset.bad_file_log()] == [(str(videos / "cut.mp4"), "skipped")]


def test_short_video_repeats_frames(tmp_path, videos):
    # 8 frames every 8th need 57 frames; the 1-second video has 30: the last frame repeats.
    _write(tmp_path / "val.csv", "short.mp4 0\n")
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "DATA.NUM_FRAMES", "8",
               "DATA.SAMPLING_RATE", "8")
    ds = build_dataset(cfg, "val")
    assert [frame_index(f) for f in ds.read_clip(0, 0, None)] == [0, 8, 16, 24, 29, 29, 29, 29]
    assert ds[0]["valid"] and not ds.bad_files


def test_loader_batches_and_workers(tmp_path, videos):
    _write(tmp_path / "train.csv", "a.mp4 0\nshort.mp4 1\nc.webm 2\nmissing.mp4 0\n")
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "DATA_LOADER.NUM_WORKERS", "2",
               "TRAIN.BATCH_SIZE", "2", "RNG_SEED", "3", "DATA.MAX_BAD_VIDEO_FRACTION", "0.25")
    loader = build_loader(cfg, "train")
    batches = list(loader)
    assert len(batches) == 2 and loader.persistent_workers
    for b in batches:
        assert b["frames"].dtype == torch.uint8 and b["frames"].shape == (2, 3, 4, 32, 32)
        for key in ("label", "video_index", "view_index", "num_replaced"):
            assert b[key].dtype == torch.int64 and b[key].shape == (2,)
    assert sum(int(b["num_replaced"].sum()) for b in batches) >= 1
    assert loader.dataset.bad_files == [str(videos / "missing.mp4")]  # seen by a worker process
    order = [b["video_index"].tolist() for b in batches]
    again = [b["video_index"].tolist() for b in build_loader(cfg, "train")]
    assert order == again  # seeded


def test_a_loader_built_at_an_iteration_starts_there(tmp_path, videos):
    """build_loader(start_iter=k): epoch e's batches from the k-th on, then whole epochs, as a loader
    that was never interrupted gives them (the order of an epoch depends on the epoch alone)."""
    from timesformer.data import shuffle_dataset

    _write(tmp_path / "train.csv", "".join(f"a.mp4 {i % 3}\n" for i in range(8)))
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(videos), "TRAIN.BATCH_SIZE", "2", "RNG_SEED", "5",
               "DATA_LOADER.NUM_WORKERS", "0")

    def epochs(loader, first: int, count: int) -> list:
        out = []
        for epoch in range(first, first + count):
            shuffle_dataset(loader, epoch, seed=100 + epoch)
            out.append([b["video_index"].tolist() for b in loader])
        return out

    whole = epochs(build_loader(cfg, "train"), 0, 3)
    assert len(whole[1]) == 4 and whole[1] != whole[2]
    resumed = epochs(build_loader(cfg, "train", start_iter=3), 1, 2)
    assert resumed == [whole[1][3:], whole[2]]


def test_synthetic_dataset(tmp_path):
    from timesformer.data.datasets.synthetic import render

    cfg = _cfg(tmp_path / "syn", "synthetic", "DATA.SYNTHETIC_NUM_VIDEOS", "8", "MODEL.NUM_CLASSES", "2")
    ds = build_dataset(cfg, "train")
    assert ds.num_videos == 8 and ds.class_names == ["brightening", "darkening"]
    assert sorted(ds.video_label(i) for i in range(8)) == [0, 0, 0, 0, 1, 1, 1, 1]
    before = (tmp_path / "syn" / "train.csv").read_text()
    assert build_dataset(cfg, "test").num_videos == 8
    assert (tmp_path / "syn" / "train.csv").read_text() == before  # generated once
    assert ds[0]["frames"].shape == (3, 4, 32, 32)
    # One class is the time reversal of the other: single frames cannot tell them apart.
    bright, dark = render(0, np.random.default_rng(5)), render(1, np.random.default_rng(5))
    assert np.array_equal(bright[::-1], dark) and not np.array_equal(bright, dark)
    assert bright[-1].astype(int).mean() - bright[0].astype(int).mean() > 60  # it brightens


def test_truncated_but_readable_video_is_reported_and_used(tmp_path):
    fast = write_video(tmp_path / "fast.mp4", num_frames=60, fps=30, gop=10, faststart=True)
    write_truncated(fast, tmp_path / "cut_fast.mp4", keep=0.5)
    _write(tmp_path / "val.csv", "cut_fast.mp4 0\n")
    cfg = _cfg(tmp_path, "kinetics", "DATA.PATH_PREFIX", str(tmp_path), "DATA.SAMPLING_RATE", "16")
    ds = build_dataset(cfg, "val")
    clip = [frame_index(f) for f in ds.read_clip(0, 0, None)]  # planned on 60 frames, re-planned
    assert clip[-1] < 30 and clip == sorted(clip)
    [bad] = ds.bad_file_log()
    assert (bad.path, bad.kind) == (str(tmp_path / "cut_fast.mp4"), "truncated") and "of the ~60" in bad.reason
    assert ds.bad_files == []  # used, not replaced: it does not count towards MAX_BAD_VIDEO_FRACTION


@pytest.mark.parametrize("opts,ok", [
    (["TRAIN.BATCH_SIZE", "6", "NUM_GPUS", "2"], True),  # 3 pairs: 4 and 2 clips
    (["TRAIN.BATCH_SIZE", "3"], False),
    (["TRAIN.BATCH_SIZE", "9", "NUM_GPUS", "3"], False),
    (["TRAIN.BATCH_SIZE", "8", "NUM_GPUS", "4"], True),
])
def test_mixup_needs_an_even_batch_per_process(opts, ok):
    opts = ["MIXUP.ENABLE", "True", *opts]
    if ok:
        assert check_config(load_config(None, opts)).MIXUP.ENABLE
    else:
        with pytest.raises(ConfigError, match="TRAIN.BATCH_SIZE.*even number of clips per process"):
            check_config(load_config(None, opts))
    assert load_config(None, opts[2:]).TRAIN.BATCH_SIZE  # odd is fine without mixup


def test_eval_protocol_per_dataset_and_split(tmp_path):
    """The test split's protocol comes from TEST.* and the dataset's sampling; val is 1 clip x 1 crop."""
    from timesformer.data import DATASETS, test_protocol
    from timesformer.data.sampling import segment_indices

    cfg = _cfg(tmp_path, "ssv2", "DATA.RANDOM_FLIP", "False", "TEST.NUM_ENSEMBLE_VIEWS", "2")
    p = test_protocol(cfg)
    assert (p.method, p.temporal_views, p.spatial_crops, p.crop_positions) == ("segment", 2, 3, (0, 1, 2))
    assert p.describe()["sampling"] == "2 points spread evenly in each segment" and p.short_side == 32
    assert p.clips(48, 30) == [segment_indices(48, 4, v, 2) for v in range(2)]
    val = DATASETS["howto100m"].eval_protocol(cfg, "val")
    assert (val.method, val.temporal_views, val.spatial_crops, val.short_side) == ("clip", 1, 1, 36)
    cover = DATASETS["howto100m"].eval_protocol(cfg, "test")
    assert cover.describe()["temporal_views"] is None and cover.num_clips(100, 30) == 7  # 16 frames each
