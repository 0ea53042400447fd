"""Downloads cut short (faststart mp4s truncated at 10/30/99 %): reading frames, the training and
test datasets and loaders, and tools/check_videos.py all agree on what each file holds."""
import os

import pytest

from tests.videos import frame_index, noisy_index_frames, write_cut_in_keyframe, write_truncated, write_video
from timesformer.config import load_config
from timesformer.data import build_loader, shuffle_dataset
from timesformer.data.check import check_split
from timesformer.data.decoding import DecodeError, ShortVideo, read_frames, scan_video

# A cut at a share of the bytes, and a cut inside the keyframe packet nearest that share (a seek to
# that keyframe then meets invalid data; before the fix that made the file "unreadable" there only).
# At 3 % not even the first frame is whole: the file is unreadable for everyone.
CUTS = {"bytes3": 0.03, "bytes10": 0.1, "bytes30": 0.3, "bytes99": 0.99,
        "keyframe10": 0.1, "keyframe30": 0.3, "keyframe99": 0.99}
NUM_FRAMES = 120


@pytest.fixture(scope="module")
def cut_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cut")
    whole = write_video(root / "whole.mp4", frames=noisy_index_frames(NUM_FRAMES), fps=30, gop=10,
                        faststart=True)
    for name, share in CUTS.items():
        if name.startswith("bytes"):
            write_truncated(whole, root / f"{name}.mp4", keep=share)
        else:
            write_cut_in_keyframe(whole, root / f"{name}.mp4", near=share)
    return root


def _outcome(path, request):
    """("frames", their indices) | ("short", decodable frames) | ("unreadable", "")."""
    try:
        return "frames", [frame_index(f) for f in read_frames(path, request)]
    except ShortVideo as e:
        return "short", e.num_frames
    except DecodeError:
        return "unreadable", ""


@pytest.mark.parametrize("name", CUTS)
def test_every_position_reads_the_frames_that_decode(cut_files, name):
    # Each single frame and each 4x4 clip start, as training and testing ask for them.
    path = str(cut_files / f"{name}.mp4")
    scan = scan_video(path)  # what check_videos sees: one decode from the start to the end
    requests = [[i] for i in range(NUM_FRAMES)] + [[i, i + 4, i + 8, i + 12] for i in range(0, NUM_FRAMES - 12, 3)]
    for request in requests:
        kind, value = _outcome(path, request)
        if scan.error:
            assert kind == "unreadable", (request, kind, value)
        elif request[-1] < scan.frames:
            assert (kind, value) == ("frames", request)
        else:
            assert (kind, value) == ("short", scan.frames), request
    assert name != "keyframe30" or (not scan.error and 0 < scan.frames < NUM_FRAMES)  # a real case


def _cfg(root, *opts):
    return load_config(None, [
        "TRAIN.DATASET", "kinetics", "TEST.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR", str(root),
        "DATA.PATH_PREFIX", str(root), "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "4",
        "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[36, 40]",
        "MODEL.PATCH_SIZE", "8", "MODEL.NUM_CLASSES", "2", "DATA_LOADER.NUM_WORKERS", "0",
        "TRAIN.BATCH_SIZE", "8", "TEST.BATCH_SIZE", "6", "DATA.MAX_BAD_VIDEO_FRACTION", "1.0",
        "TEST.SKIP_BAD_VIDEOS", "True", "TEST.NUM_ENSEMBLE_VIEWS", "3", "TEST.NUM_SPATIAL_CROPS", "1", *opts])


def _check_videos(cfg, split):
    return check_split(cfg, split)


def test_training_testing_and_check_videos_agree(cut_files):
    names = ["whole", *CUTS]
    for split in ("train", "test"):
        (cut_files / f"{split}.csv").write_text("".join(f"{n}.mp4 {i % 2}\n" for i, n in enumerate(names)))
    cfg = _cfg(cut_files)
    report = _check_videos(cfg, "train")
    unreadable = {os.path.basename(path) for path, _ in report["unreadable"]}
    usable = {f"{n}.mp4" for n in names} - unreadable
    assert unreadable == {"bytes3.mp4"} and len(report["truncated"]) >= 4

    # Training: random clips through the loader, a fresh one each epoch (nothing learnt before about
    # a file's length); only unreadable files are ever replaced.
    replaced = set()
    for epoch in range(12):
        loader = build_loader(cfg, "train")
        shuffle_dataset(loader, epoch)
        assert sum(len(batch["label"]) for batch in loader) == len(names)
        replaced |= {os.path.basename(b.path) for b in loader.dataset.bad_file_log() if b.kind == "replaced"}
    assert replaced == unreadable

    # Testing (3 views each, through the loader): every view of a usable file is scored.
    test = build_loader(cfg, "test")
    for batch in test:
        for video, valid in zip(batch["video_index"].tolist(), batch["valid"].tolist(), strict=True):
            assert valid == (f"{names[video]}.mp4" in usable), names[video]
    log = test.dataset.bad_file_log()
    assert {os.path.basename(b.path) for b in log if b.kind == "skipped"} == unreadable
    truncated = {os.path.basename(path) for path, _, _ in report["truncated"]}
    assert {os.path.basename(b.path) for b in log if b.kind == "truncated"} == truncated  # the middle
    # clip of each of them lies past its cut, so the test split learns every one
