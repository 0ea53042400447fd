"""tools/predict.py's sliding windows on long videos: --stride, --smooth and --out-video, on real
encoded videos and frame folders with tiny checkpoints."""
import json

import av
import numpy as np
import pytest
import torch

from tests.checkpoints import kinetics_test_set, tiny_checkpoint
from tests.conftest import load_tool
from tests.videos import frame_index, write_jpeg_folder, write_video
from timesformer.inference import smooth_windows
from timesformer.visualize.timeline_video import draw_labels, nearest_window, window_lines

predict = load_tool("predict")


def run_json(capsys, *argv: str) -> dict:
    assert predict.main([*argv, "--json", "--device", "cpu"]) == 0
    return json.loads(capsys.readouterr().out)["results"][0]


def full_scores(window: dict) -> torch.Tensor:
    """A window's scores of every class (K,) from its top list (run with --topk K)."""
    scores = torch.zeros(len(window["top"]), dtype=torch.float64)
    for t in window["top"]:
        scores[t["label"]] = t["score"]
    return scores


def test_stride_scores_overlapping_windows_and_keeps_the_protocol_score(tmp_path, capsys):
    """100 frames at 30 fps, 4 frames every 8th (a clip spans 25 frames): --stride 0.5 starts a window
    every 15 frames, the last moved back to end on the last frame; the video score is still the
    protocol's middle clip, and a window holding the same frames scores what the default one does."""
    video, ckpt = kinetics_test_set(tmp_path, num_frames=100)
    plain = run_json(capsys, str(video), "--weights", str(ckpt), "--timeline")
    r = run_json(capsys, str(video), "--weights", str(ckpt), "--timeline", "--stride", "0.5")
    assert r["top"] == plain["top"] and r["clips"] == plain["clips"] and r["num_clips"] == 1
    windows = r["timeline"]
    assert [w["frames"][0] for w in windows] == [0, 15, 30, 45, 60, 75]
    assert [w["frames"] for w in windows][-1] == [75, 83, 91, 99]
    assert [w["start_s"] for w in windows] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [w["end_s"] for w in windows] == [0.833, 1.333, 1.833, 2.333, 2.833, 3.333]
    assert windows[0]["frames"] == plain["timeline"][0]["frames"] and windows[0]["top"] == plain["timeline"][0]["top"]
    assert windows[-1]["top"] == plain["timeline"][-1]["top"]  # the same end-aligned window
    # --stride alone implies --timeline; windows further apart than a clip leave gaps, the last still
    # ends at the end; a stride under one frame is an error naming the flag.
    apart = run_json(capsys, str(video), "--weights", str(ckpt), "--stride", "2")["timeline"]
    assert [w["frames"][0] for w in apart] == [0, 60, 75]
    assert predict.main([str(video), "--weights", str(ckpt), "--stride", "0.01", "--device", "cpu"]) == 2
    assert "--stride 0.01 s is less than one frame" in capsys.readouterr().err


def test_smooth_averages_the_neighbouring_windows_and_what_exists_at_the_ends(tmp_path, capsys):
    video, ckpt = kinetics_test_set(tmp_path, num_frames=100)
    args = [str(video), "--weights", str(ckpt), "--stride", "0.5", "--topk", "5"]
    raw = torch.stack([full_scores(w) for w in run_json(capsys, *args)["timeline"]])  # (6, 5)
    r = run_json(capsys, *args, "--smooth", "3")
    smooth = torch.stack([full_scores(w) for w in r["timeline"]])
    assert r["timeline_smooth"] == 3 and len(smooth) == 6
    expected = [raw[0:2].mean(0), *(raw[i - 1:i + 2].mean(0) for i in range(1, 5)), raw[4:6].mean(0)]
    assert torch.allclose(smooth, torch.stack(expected), atol=1e-6)
    assert not torch.allclose(smooth, raw, atol=1e-6)


def test_smooth_windows_with_even_sizes_and_more_than_there_are():
    scores = torch.arange(8.0).view(4, 2)  # (W, K): windows 0..3
    assert torch.equal(smooth_windows(scores, 1), scores)
    # k = 2: the window and the one after it; the last has none after it
    assert torch.equal(smooth_windows(scores, 2)[:, 0], torch.tensor([1.0, 3.0, 5.0, 6.0]))
    assert torch.equal(smooth_windows(scores, 4)[:, 0], torch.tensor([2.0, 3.0, 4.0, 5.0]))  # 1 before, 2 after
    assert torch.allclose(smooth_windows(scores, 99), scores.mean(0).expand(4, 2))


def test_nearest_window_takes_the_closer_centre_and_the_earlier_on_a_tie():
    centres = [0.5, 1.5, 2.25]
    assert [nearest_window(centres, t) for t in (0.0, 0.9, 1.0, 1.1, 1.875, 1.9, 9.0)] == [0, 0, 0, 1, 1, 2, 2]


def _decode(path) -> tuple:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, float(stream.average_rate), stream.codec_context.name


def test_out_video_draws_each_frames_nearest_window_at_the_source_rate_and_size(tmp_path, capsys):
    source = write_video(tmp_path / "long.mp4", num_frames=100, fps=25, width=192, height=144)
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["DATA.SAMPLING_RATE", 8], class_names=[f"c{i}" for i in range(5)])
    out = tmp_path / "out" / "labelled.mp4"
    assert predict.main([str(source), "--weights", str(ckpt), "--json", "--device", "cpu", "--topk", "2",
                         "--stride", "1", "--out-video", str(out)]) == 0
    windows = json.loads(capsys.readouterr().out)["results"][0]["timeline"]
    assert [w["start_s"] for w in windows] == [0.0, 1.0, 2.0, 3.0]  # 25 fps: a clip spans 21 frames
    frames, fps, codec = _decode(out)
    assert (frames.shape, fps, codec) == ((100, 144, 192, 3), 25.0, "h264")
    assert [frame_index(f[64:]) for f in frames] == list(range(100))  # below the labels: the source frames
    src, _, _ = _decode(source)
    centres = [(w["start_s"] + w["end_s"]) / 2 for w in windows]
    for j in (0, 30, 45, 70, 99):
        expected = nearest_window(centres, (j + 0.5) / 25)
        box = frames[j, :40].astype(float)  # the labels' corner
        error = [np.abs(draw_labels(src[j], window_lines(w))[:40] - box).mean() for w in windows]
        assert int(np.argmin(error)) == expected, (j, error)
        assert np.abs(src[j, :40] - box).mean() > 2 * error[expected]  # labels are drawn there


def test_out_video_of_a_frame_folder_runs_at_its_frame_rate(tmp_path, capsys):
    folder = write_jpeg_folder(tmp_path / "frames", num_frames=30, width=64, height=48)
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    out = tmp_path / "f.mp4"
    assert predict.main([str(folder), "--weights", str(ckpt), "--device", "cpu", "--out-video", str(out),
                         "DATA.FRAMES_FPS", "10"]) == 0
    assert f"labelled video (30 frames) -> {out}" in capsys.readouterr().out
    frames, fps, _ = _decode(out)
    assert frames.shape == (30, 48, 64, 3) and fps == 10.0


@pytest.mark.parametrize("argv, message", [
    (["--out-video", "x.avi"], "--out-video: x.avi: the file name must end in .mp4"),
    (["--stride", "0"], "--stride: '0': expected a number above 0"),
    (["--smooth", "0"], "--smooth: '0': expected a whole number of at least 1"),
    (["b.mp4", "--out-video", "x.mp4"], "--out-video x.mp4: writes one video; give one video (got 2)"),
])
def test_timeline_options_that_cannot_work_are_one_error_line(tmp_path, capsys, argv, message):
    assert predict.main(["a.mp4", "--weights", str(tmp_path / "w.pth"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
