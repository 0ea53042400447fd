"""Smoke tests of tools/check_videos.py and tools/benchmark_data.py on tiny real videos."""
import json

import pytest

from tests.conftest import load_tool
from tests.videos import write_truncated, write_video
from timesformer.config import load_config


@pytest.fixture
def data(tmp_path):
    write_video(tmp_path / "ok.mp4", num_frames=60, fps=30)
    write_video(tmp_path / "short.mp4", num_frames=10, fps=30)
    write_truncated(tmp_path / "ok.mp4", tmp_path / "cut.mp4")
    write_truncated(write_video(tmp_path / "fast.mp4", num_frames=60, fps=30, faststart=True),
                    tmp_path / "cut_fast.mp4")  # opens, and about half its frames decode
    (tmp_path / "train.csv").write_text("ok.mp4 0\nshort.mp4 1\ncut.mp4 1\nok.mp4 1\n")
    return ["TRAIN.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR", str(tmp_path), "DATA.PATH_PREFIX",
            str(tmp_path), "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "4", "DATA.TRAIN_CROP_SIZE", "32",
            "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[32, 36]", "MODEL.PATCH_SIZE", "8",
            "MODEL.NUM_CLASSES", "2", "TRAIN.BATCH_SIZE", "2", "DATA_LOADER.NUM_WORKERS", "0",
            "DATA.MAX_BAD_VIDEO_FRACTION", "0.25"]  # cut.mp4 is 1 of 4


def test_check_videos_lists_bad_and_short(data, capsys):
    assert load_tool("check_videos").main(data) == 1
    out = capsys.readouterr().out
    assert "UNREADABLE" in out and "cut.mp4" in out
    assert "SHORT" in out and "short.mp4: 10 frames, a clip spans 13" in out
    assert "checked 4 videos of train: 1 unreadable, 1 shorter than a clip" in out


def test_check_videos_flags_truncated_files_in_parallel(data, tmp_path, capsys):
    (tmp_path / "val.csv").write_text("ok.mp4 0\ncut_fast.mp4 1\nfast.mp4 1\n")
    assert load_tool("check_videos").main(["--split", "val", "--workers", "2"] + data) == 0  # all readable
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("TRUNCATED")]
    assert "cut_fast.mp4: " in line and "of the ~60 frames its duration promises decode" in line
    assert "checked 3 videos of val: 0 unreadable, 0 shorter than a clip, 1 truncated" in out


def test_check_videos_measures_the_frame_window(data, tmp_path, capsys):
    entries = [{"vid_name": "ok", "label": 0, "start_frame": 50, "end_frame": 70},  # 10 frames left
               {"vid_name": "ok", "label": 1, "start_frame": 60, "end_frame": 70}]  # none left
    (tmp_path / "Diving48_V2_train.json").write_text(json.dumps(entries))
    assert load_tool("check_videos").main(data + ["TRAIN.DATASET", "diving48"]) == 1
    out = capsys.readouterr().out
    assert "SHORT " in out and "ok.mp4: 10 frames, a clip spans 13" in out
    assert "UNREADABLE " in out and "window starts at frame 60 but the video has 60 frames" in out


@pytest.mark.parametrize("workers,warmup", [(0, 2), (2, 4)])  # 2 workers x prefetch_factor 2
def test_benchmark_data_reports_clips_per_second(data, tmp_path, capsys, workers, warmup):
    (tmp_path / "test.csv").write_text("ok.mp4 0\nfast.mp4 1\n")
    opts = data + ["DATA_LOADER.NUM_WORKERS", str(workers), "TEST.BATCH_SIZE", "2"]
    assert load_tool("benchmark_data").main(["--batches", "3"] + opts) == 0
    train, test = capsys.readouterr().out.splitlines()
    assert train.startswith("train: 6 clips in") and test.startswith("test: 6 views in")
    for line in (train, test):
        assert f"per worker ({workers} workers, after {warmup} warm-up batches)" in line
        assert "ms CPU per video" in line and "frames decoded per clip" in line


def test_benchmark_data_compares_with_the_old_path(tmp_path, capsys):
    # Its own videos (--make-videos: H.264 with B-frames), then old and new side by side: skipping
    # decodes fewer frames per training clip, and a test clip is decoded once, not once per crop.
    tool = load_tool("benchmark_data")
    assert tool.main(["--make-videos", str(tmp_path), "--num-videos", "2", "--seconds", "2"]) == 0
    opts = ["TRAIN.DATASET", "kinetics", "TEST.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR", str(tmp_path),
            "DATA.PATH_PREFIX", str(tmp_path), "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "8",
            "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[32, 36]",
            "MODEL.PATCH_SIZE", "8", "MODEL.NUM_CLASSES", "2", "TRAIN.BATCH_SIZE", "2", "TEST.BATCH_SIZE", "3",
            "DATA_LOADER.NUM_WORKERS", "0"]
    capsys.readouterr()
    r = tool.compare(load_config(None, opts), ["train", "test"], batches=2, rounds=1)
    assert r["train"]["decoded_ratio"] < 0.9 and r["test"]["decoded_ratio"] < 0.4
    assert tool.main(["--batches", "2", "--compare"] + opts) == 0
    out = capsys.readouterr().out
    assert "train new / old: CPU per video" in out and "test new / old: CPU per video" in out
    assert tool.main(["--decoders"] + opts) == 0  # the configured decoder (PyAV here) against PyAV
    out = capsys.readouterr().out
    assert out.startswith("pyav on cpu: ") and "pixel difference max 0," in out


def test_check_videos_takes_a_folder_a_csv_or_a_video(data, tmp_path, capsys, monkeypatch):
    tool = load_tool("check_videos")
    clip = ["DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "4"]  # a clip spans 13 frames at 30 fps
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt.bak").write_text("not a video")
    write_video(tmp_path / "sub" / "deep.webm", num_frames=20, fps=30)
    assert tool.main([str(tmp_path), *clip]) == 1  # the folder: every video under it
    out = capsys.readouterr().out
    assert "UNREADABLE " in out and "cut.mp4" in out and "SHORT " in out and "short.mp4: 10 frames" in out
    assert f"checked 6 videos of {tmp_path}: 1 unreadable, 1 shorter than a clip, 1 truncated" in out
    # a CSV: its paths under DATA.PATH_PREFIX, as the datasets read them (from any folder)
    monkeypatch.chdir(tmp_path / "sub")
    csv = tmp_path / "train.csv"
    assert tool.main([str(csv), "DATA.PATH_PREFIX", str(tmp_path), *clip]) == 1
    assert f"checked 4 videos of {csv}: 1 unreadable, 1 shorter than a clip" in capsys.readouterr().out
    assert tool.main([str(tmp_path / "ok.mp4"), str(tmp_path / "sub" / "deep.webm"), *clip]) == 0
    assert "checked 2 videos" in capsys.readouterr().out
    assert tool.main([str(tmp_path / "missing.mp4")]) == 2
    assert "missing.mp4: no such file or folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert tool.main([str(empty)]) == 2
    assert "a folder without video files" in capsys.readouterr().err
