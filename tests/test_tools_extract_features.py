"""tools/extract_features.py on real encoded videos and a real checkpoint: one .npy per video of a
split, the manifest, bad files listed, a rerun that skips, the same files from one and two processes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.checkpoints import TINY_CHECKPOINT_OPTS, tiny_checkpoint
from tests.conftest import ROOT, load_tool
from tests.videos import write_truncated, write_video
from timesformer.config import get_cfg
from timesformer.data import sampling

# A Kinetics-format test split: two videos with the same base name in different folders, a long one
# (VP9), one cut-off download and one file that is no video at all.
GOOD = {"a/x.mp4": 60, "b/x.mp4": 45, "long.webm": 150}
BAD = ("cut.mp4", "garbage.mp4")
CFG_OPTS = ["DATA.SAMPLING_RATE", 4, "TEST.DATASET", "kinetics", "TEST.NUM_ENSEMBLE_VIEWS", 2,
            "TEST.NUM_SPATIAL_CROPS", 3, "DATA_LOADER.NUM_WORKERS", 0]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """(config file, checkpoint) of a test split of real files under ``videos/``."""
    root = tmp_path_factory.mktemp("extract")
    videos = root / "videos"
    for name, frames in GOOD.items():
        write_video(videos / name, num_frames=frames, fps=30, gop=12)
    write_truncated(write_video(root / "whole.mp4", num_frames=60), videos / "cut.mp4", keep=0.5)
    (videos / "garbage.mp4").write_bytes(os.urandom(3000))
    data = root / "data"
    data.mkdir()
    (data / "test.csv").write_text("".join(f"{name} {k % 5}\n" for k, name in enumerate([*GOOD, *BAD])))
    opts = CFG_OPTS + ["DATA.PATH_TO_DATA_DIR", str(data), "DATA.PATH_PREFIX", str(videos)]
    cfg = get_cfg()
    cfg.merge_from_list(TINY_CHECKPOINT_OPTS + opts)
    (root / "cfg.yaml").write_text(cfg.dump())
    torch.manual_seed(0)
    return str(root / "cfg.yaml"), str(tiny_checkpoint(root / "m.pth", opts))


def extract(split, out, *extra) -> int:
    """The tool, in this process (its NUM_GPUS > 1 processes are real ones)."""
    cfg, weights = split
    return load_tool("extract_features").main(["--cfg", cfg, "--weights", weights, "--out", str(out), *extra])


def manifest(out) -> list:
    return [json.loads(line) for line in (Path(out) / "manifest.jsonl").read_text().splitlines()]


def arrays(out) -> dict:
    return {p.name: np.load(p) for p in sorted(Path(out).glob("*.npy"))}


def test_every_video_gets_its_clips_features_and_bad_ones_are_listed(split, tmp_path, capfd):
    assert extract(split, tmp_path / "f") == 1  # two videos cannot be read: status 1, the others written
    files = arrays(tmp_path / "f")
    assert sorted(files) == ["a__x.mp4.npy", "b__x.mp4.npy", "long.webm.npy"]  # same base name, two files
    lines = manifest(tmp_path / "f")
    assert [line["video"] for line in lines] == list(GOOD)  # split order
    for line in lines:
        feats = files[line["file"]]
        assert feats.dtype == np.float32 and list(feats.shape) == line["shape"] == [2, 32]  # 2 clips x D
        starts = [s for s, _ in line["clips"]]
        assert starts == sorted(starts) and all(e > s for s, e in line["clips"])  # time order
    failed = [json.loads(x) for x in (tmp_path / "f" / "failed.jsonl").read_text().splitlines()]
    assert [f["video"] for f in failed] == list(BAD) and all("cannot read video" in f["error"] for f in failed)
    assert not list((tmp_path / "f").glob("*.tmp")) and not list((tmp_path / "f" / "manifest.parts").iterdir())


def test_each_row_is_the_final_cls_feature_of_a_clip_crops_averaged(split, tmp_path):
    # the protocol's clips and crops as predict runs them: its per-view CLS features, averaged per clip
    from timesformer.inference import load_predictor, predict_video, run_clips, video_clips

    assert extract(split, tmp_path / "f", "--batch-size", "4") == 1
    predictor = load_predictor(split[1], split[0], device="cpu")
    for line in manifest(tmp_path / "f"):
        clips, _, _ = video_clips(line["path"], predictor.cfg)
        _, views = run_clips(predictor, clips)  # (clips * 3 crops, D)
        feats = np.load(tmp_path / "f" / line["file"])
        np.testing.assert_allclose(feats, views.view(len(clips), 3, -1).mean(dim=1).numpy(), rtol=0, atol=1e-6)
        spans = predict_video(predictor, line["path"])["clips"]
        assert line["clips"] == [[c["start_s"], c["end_s"]] for c in spans]


def test_a_rerun_skips_every_finished_video_and_says_so(split, tmp_path, capfd):
    extract(split, tmp_path / "f")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "f").glob("*.npy")}
    capfd.readouterr()
    assert extract(split, tmp_path / "f") == 1  # the bad ones are tried again, and fail again
    out = capfd.readouterr().out
    assert "3 of 5 videos of test already have their features" in out and "extracting 2" in out
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "f").glob("*.npy")} == before
    assert len(manifest(tmp_path / "f")) == 3


def test_an_interrupted_run_is_finished_by_the_next(split, tmp_path):
    out = tmp_path / "f"
    extract(split, out)
    whole, lines = arrays(out), manifest(out)
    # as kills leave it: a line in a process's part only (and a line cut short), a finished video whose
    # line is lost (the manifest deleted), a video half written
    (out / "manifest.jsonl").unlink()
    (out / "manifest.parts" / "rank1.jsonl").write_text(json.dumps(lines[0]) + "\n" + '{"video": "b/x.mp4", "fi')
    os.replace(out / "long.webm.npy", out / "long.webm.npy.tmp")
    extract(split, out)
    assert manifest(out) == lines and not list(out.glob("*.tmp"))
    for name, a in arrays(out).items():
        np.testing.assert_array_equal(a, whole[name])


def test_decoding_workers_give_the_same_files(split, tmp_path):
    extract(split, tmp_path / "one")
    extract(split, tmp_path / "two", "DATA_LOADER.NUM_WORKERS", "2", "--batch-size", "3")  # a clip per item
    same_files(tmp_path / "one", tmp_path / "two")


def test_cover_clips_every_stride_seconds_and_tokens(split, tmp_path):
    assert extract(split, tmp_path / "f", "--clips", "cover", "--stride", "0.5", "--tokens") == 1
    line = next(x for x in manifest(tmp_path / "f") if x["video"] == "long.webm")
    # 150 frames at 30 fps, a clip spans 13 frames (4 every 4th): one every 15 frames
    expected = sampling.window_clips(150, 30.0, 4, 4, 30.0, stride=15)
    assert line["clips"] == [[round(c[0] / 30, 3), round((c[-1] + 1) / 30, 3)] for c in expected]
    assert line["clips"][1][0] - line["clips"][0][0] == pytest.approx(0.5) and len(expected) == 10
    feats, tokens = np.load(tmp_path / "f" / line["file"]), np.load(tmp_path / "f" / line["tokens_file"])
    assert feats.shape == (len(expected), 32) and tokens.shape == (len(expected), 4 * 4 * 4, 32)  # T*H'*W' = 64
    assert line["tokens_shape"] == list(tokens.shape)


def test_forward_tokens_holds_the_cls_feature_and_the_patches_time_major(tiny_kwargs):
    from timesformer.models.vit import VisionTransformer

    x = torch.randn(2, 3, 4, 32, 32)
    for scheme, length in (("divided_space_time", 4 * 16), ("space_only", 16)):
        vit = VisionTransformer(**tiny_kwargs, attention_type=scheme).eval()
        tokens = vit.forward_tokens(x)
        assert tokens.shape == (2, 1 + length, 32)
        torch.testing.assert_close(tokens[:, 0], vit.forward_features(x), rtol=0, atol=0)
    # time-major: changing the last frame changes only the patches of the last time step before the blocks
    vit = VisionTransformer(**{**tiny_kwargs, "depth": 0}).eval()
    y = x.clone()
    y[:, :, 3] += 1
    changed = (vit.forward_tokens(x) - vit.forward_tokens(y)).abs().amax(dim=-1)[0, 1:]  # (T*16,)
    assert changed.view(4, 16)[:3].max() == 0 and changed.view(4, 16)[3].min() > 0


@pytest.mark.parametrize("argv, words", [
    (["--stride", "2"], "--stride 2.0 needs --clips cover"),
    (["--clips", "cover", "--stride", "0"], "'0': expected a number above 0"),
])
def test_bad_arguments_are_one_line_and_status_2(split, tmp_path, capfd, argv, words):
    assert extract(split, tmp_path / "f", *argv) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]


def test_two_videos_that_would_share_a_file_are_named_before_any_work(split, tmp_path, capfd):
    cfg, weights = split
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.csv").write_text("a/x.mp4 0\na__x.mp4 1\n")
    assert extract(split, tmp_path / "f", "DATA.PATH_TO_DATA_DIR", str(data)) == 2
    err = capfd.readouterr().err
    assert "a/x.mp4" in err and "a__x.mp4" in err and "rename one" in err and not (tmp_path / "f").exists()


def same_files(one, two, tokens: bool = False) -> None:
    """Two output folders hold the same features (to 1e-6), manifest and failures; ``two`` also tokens."""
    a, b = arrays(one), arrays(two)
    assert set(b) == set(a) | ({name.replace(".npy", ".tokens.npy") for name in a} if tokens else set())
    for name, x in a.items():
        np.testing.assert_allclose(b[name], x, rtol=0, atol=1e-6)
    assert [{k: v for k, v in line.items() if "tokens" not in k} for line in manifest(two)] == manifest(one)
    assert (Path(one) / "failed.jsonl").read_text() == (Path(two) / "failed.jsonl").read_text()


@pytest.mark.slow
def test_two_processes_write_the_same_files_as_one(split, tmp_path, capfd):
    assert extract(split, tmp_path / "one") == 1
    assert extract(split, tmp_path / "two", "NUM_GPUS", "2", "--tokens") == 1  # two spawned CPU processes (gloo)
    assert "extracting 5 on 2 process(es)" in capfd.readouterr().out
    same_files(tmp_path / "one", tmp_path / "two", tokens=True)


@pytest.mark.slow
def test_torchrun_processes_write_the_same_files_as_one(split, tmp_path):
    from timesformer.utils.distributed import find_free_port

    assert extract(split, tmp_path / "one") == 1
    cfg, weights = split
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(find_free_port()), "tools/extract_features.py", "--cfg", cfg, "--weights", weights, "--out",
           str(tmp_path / "two"), "NUM_GPUS", "2"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "extracting 5 on 2 process(es)" in log, log[-4000:]  # status 1: two bad videos
    assert "starting 2 processes" not in log  # torchrun's processes, none spawned here
    same_files(tmp_path / "one", tmp_path / "two")


def test_submit_runs_the_extraction_as_its_job(split, tmp_path, capsys):
    cfg, weights = split
    data = tmp_path / "data"  # the readable videos only: submitit's debug executor stops in pdb on a failure
    data.mkdir()
    (data / "test.csv").write_text("".join(f"{name} 0\n" for name in GOOD))
    tool_args = f"--weights {weights} --out {tmp_path / 'f'} --clips cover"
    argv = ["--cfg", cfg, "--cluster", "debug", "--log-dir", str(tmp_path / "logs"), "--tool", "extract_features",
            "--tool-args", tool_args, "DATA.PATH_TO_DATA_DIR", str(data)]
    assert load_tool("submit").main(argv) == 0
    assert [line["video"] for line in manifest(tmp_path / "f")] == list(GOOD)
    job = load_tool("submit").tool_job(load_tool("submit").build_parser().parse_args(argv[:-2]))
    assert job.checkpoint().function.argv == job.argv  # preemption requeues the same extraction
    # a SLURM job of 4 nodes x 8 tasks, each running the tool; its arguments are checked before submitting
    dry = ["--cfg", cfg, "--dry-run", "--tool", "extract_features", "--tool-args", tool_args, "NUM_GPUS", "8",
           "NUM_SHARDS", "4"]
    assert load_tool("submit").main(dry) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --nodes=4" in script and "#SBATCH --ntasks-per-node=8" in script
    assert load_tool("submit").main([*dry[:6], "--weights W --out f --clips sideways"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tool-args for extract_features" in err[0] and "'sideways'" in err[0]
