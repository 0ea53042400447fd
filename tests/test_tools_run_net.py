"""tools/run_net.py: two real CPU processes (spawned, and started by torchrun) train, validate and
test, bad videos reported from every rank; test-only runs; errors before and after the start."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import QUICKSTART, ROOT, load_tool, tiny_opts
from timesformer.utils.distributed import find_free_port
from timesformer.utils.logging import read_json_lines

RECIPE_WEIGHTS = "vit_base_patch16_224.orig_in21k_ft_in1k"  # the recipe's ImageNet ViT: not fetched offline


@pytest.fixture(scope="module")
def kinetics_dir(data_dir, tmp_path_factory):
    """The synthetic videos listed Kinetics-style, the last train and test entries missing files."""
    root = tmp_path_factory.mktemp("kinetics")
    for split in ("train", "val", "test"):
        lines = Path(data_dir, f"{split}.csv").read_text().splitlines()
        if split != "val":
            lines[-1] = f"videos/missing_{split}.mp4 {lines[-1].split()[1]}"
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return str(root)


def _env():
    return {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}


@pytest.fixture(scope="module")
def two_process_run(data_dir, tmp_path_factory):
    """One epoch and a 3-crop test with NUM_GPUS 2 on a CPU machine: two gloo processes."""
    out = str(tmp_path_factory.mktemp("run"))
    opts = tiny_opts(data_dir, out, **{"NUM_GPUS": 2, "TEST.NUM_SPATIAL_CROPS": 3, "TRAIN.EVAL_PERIOD": 1})
    proc = subprocess.run([sys.executable, "tools/run_net.py", "--cfg", QUICKSTART, *opts], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout + proc.stderr


@pytest.mark.slow
def test_two_processes_write_once_and_test_every_view_once(two_process_run):
    out, log = two_process_run
    assert "starting 2 processes on the CPU (gloo)" in log and "rank 1/2" not in log  # rank 1 logs warnings only
    stats = read_json_lines(os.path.join(out, "stats.jsonl"))
    kinds = [r["type"] for r in stats]
    # 16 videos, batch 4 over 2 ranks: 4 iterations, each written once (rank 0 only)
    assert kinds == ["train_iter"] * 4 + ["train_epoch", "val_epoch", "test_final"]
    assert stats[-2]["num_videos"] == 8 and stats[-2]["num_views"] == 8
    final = stats[-1]
    assert final["num_videos"] == 8 and final["num_views"] == 24 and final["skipped_views"] == 0
    rows = [json.loads(line) for line in Path(out, "test_predictions.jsonl").read_text().splitlines()]
    assert sorted(r["video_index"] for r in rows) == list(range(8))
    assert all(r["num_views"] == 3 and len(r["scores"]) == 2 for r in rows)
    top1 = 100.0 * sum(r["pred"] == r["label"] for r in rows) / 8
    assert final["top1"] == pytest.approx(top1)
    results = json.loads(Path(out, "test_results.json").read_text())
    assert [c["class"] for c in results["per_class"]] == ["brightening", "darkening"]
    assert Path(out, "test_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "TRAIN:" in Path(out, "config.yaml").read_text()
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(out, "tensorboard")))
    assert "test: top1" in Path(out, "log.txt").read_text()


@pytest.mark.slow
def test_torchrun_starts_two_processes_that_train_test_and_report_bad_videos(data_dir, kinetics_dir, tmp_path):
    out = str(tmp_path)
    opts = tiny_opts(data_dir, out, **{
        "NUM_GPUS": 2, "TRAIN.EVAL_PERIOD": 0, "TRAIN.DATASET": "kinetics", "TEST.DATASET": "kinetics",
        "DATA.PATH_TO_DATA_DIR": kinetics_dir, "DATA.PATH_PREFIX": data_dir, "TEST.SKIP_BAD_VIDEOS": True,
        "DATA.MAX_BAD_VIDEO_FRACTION": 0.2})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(find_free_port()), "tools/run_net.py", "--cfg", QUICKSTART, *opts]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=_env())
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "rank 0/2 on cpu" in log and "starting 2 processes" not in log  # torchrun's, not spawned here
    stats = read_json_lines(os.path.join(out, "stats.jsonl"))
    assert [r["type"] for r in stats] == ["train_iter"] * 4 + ["train_epoch", "test_final"]
    assert stats[4]["bad_videos_replaced"] >= 1  # the missing train video, whichever rank read it
    assert "missing_train.mp4 (replaced: " in Path(out, "log.txt").read_text()
    final = stats[-1]
    assert final["num_videos"] == 7 and final["skipped_views"] == 1 and final["clips_per_s"] > 0
    bad = json.loads(Path(out, "test_results.json").read_text())["bad_files"]
    # the last test video is in rank 1's share of the views: reported through the gather
    assert [(b["path"], b["kind"]) for b in bad] == [(os.path.join(data_dir, "videos/missing_test.mp4"),
                                                       "skipped")]


@pytest.mark.slow
def test_test_only_from_a_checkpoint(two_process_run, data_dir, tmp_path):
    from timesformer.checkpoint.checkpointer import Checkpointer

    ckpt = Checkpointer(two_process_run[0], 0).find_latest()
    first = read_json_lines(os.path.join(two_process_run[0], "stats.jsonl"))[-1]
    # the ImageNet weights are never fetched: the checkpoint replaces every weight
    opts = tiny_opts(data_dir, str(tmp_path), **{"TRAIN.ENABLE": False, "TEST.CHECKPOINT_FILE_PATH": ckpt,
                                                 "TEST.NUM_SPATIAL_CROPS": 3,
                                                 "TIMESFORMER.PRETRAINED_MODEL": RECIPE_WEIGHTS})
    assert load_tool("run_net").main(["--cfg", QUICKSTART, *opts]) == 0
    again = read_json_lines(os.path.join(str(tmp_path), "stats.jsonl"))
    assert [r["type"] for r in again] == ["test_final"]
    assert again[0]["top1"] == pytest.approx(first["top1"])
    assert again[0]["loss"] == pytest.approx(first["loss"], rel=1e-4)


def test_unwritable_output_dir_and_missing_data_fail_fast(tmp_path, capsys):
    run_net = load_tool("run_net")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert run_net.main(["--cfg", QUICKSTART, "OUTPUT_DIR", str(blocker / "out")]) == 2
    assert "OUTPUT_DIR" in capsys.readouterr().err
    missing = str(tmp_path / "no_such_folder")
    assert run_net.main(["--cfg", QUICKSTART, "OUTPUT_DIR", str(tmp_path / "o"), "TRAIN.DATASET", "kinetics",
                         "TEST.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR", missing]) == 2
    err = capsys.readouterr().err
    assert "DATA.PATH_TO_DATA_DIR" in err and missing in err
    assert run_net.main(["--cfg", QUICKSTART, "SOLVER.OPTIMIZING_METHOD", "adam"]) == 2
    assert "SOLVER.OPTIMIZING_METHOD" in capsys.readouterr().err
    assert run_net.main(["--cfg", QUICKSTART, "OUTPUT_DIR", str(tmp_path / "o"), "TRAIN.DATASET", "kinetics",
                         "TEST.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR", str(tmp_path),
                         "DATA.PATH_PREFIX", missing]) == 2
    err = capsys.readouterr().err
    assert "DATA.PATH_PREFIX" in err and missing in err
    assert run_net.main(["--cfg", QUICKSTART, "OUTPUT_DIR", str(tmp_path / "empty"), "TRAIN.ENABLE", "False"]) == 2
    assert "nothing to test" in capsys.readouterr().err


def test_errors_after_the_start_are_one_line(data_dir, tmp_path, capsys):
    from timesformer.config import load_config
    from timesformer.models import TimeSformer, model_kwargs_from_cfg

    run_net = load_tool("run_net")
    opts = tiny_opts(data_dir, str(tmp_path / "diverge"), **{
        "SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 1e30, "SOLVER.WARMUP_EPOCHS": 0.0,
        "SOLVER.MAX_EPOCH": 3, "TEST.ENABLE": False, "TRAIN.EVAL_PERIOD": 0})
    assert run_net.main(["--cfg", QUICKSTART, *opts]) == 1
    err = capsys.readouterr().err
    assert "error: non-finite loss" in err and "Traceback" not in err
    # testing TIMESFORMER.PRETRAINED_MODEL itself loads it strictly: a 3-class head cannot score 4 classes
    opts = tiny_opts(data_dir, str(tmp_path / "strict"), **{"TRAIN.ENABLE": False})
    kwargs = dict(model_kwargs_from_cfg(load_config(QUICKSTART, opts)), num_classes=3)
    weights = str(tmp_path / "three_classes.pyth")
    torch.save({"model": TimeSformer(**kwargs).state_dict()}, weights)
    assert run_net.main(["--cfg", QUICKSTART, *opts, "TIMESFORMER.PRETRAINED_MODEL", weights]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot test {weights}" in err and "head" in err and "Traceback" not in err
