"""Trainer: exact resume after a real SIGKILL, gradient accumulation, non-finite loss, precision options."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from timesformer.config import load_config
from timesformer.engine import run
from timesformer.utils.logging import read_json_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "configs", "Synthetic", "quickstart.yaml")


def tiny_opts(data_dir, out_dir, **extra) -> list:
    """Overrides of the quick start for a model and data set that train in about a second."""
    opts = {"MODEL.EMBED_DIM": 32, "MODEL.DEPTH": 2, "MODEL.NUM_HEADS": 2, "MODEL.PATCH_SIZE": 8,
            "DATA.NUM_FRAMES": 4, "DATA.TRAIN_CROP_SIZE": 32, "DATA.TEST_CROP_SIZE": 32,
            "DATA.TRAIN_JITTER_SCALES": "[32, 40]", "DATA.SYNTHETIC_NUM_VIDEOS": 16,
            "DATA.PATH_TO_DATA_DIR": data_dir, "DATA_LOADER.NUM_WORKERS": 0, "TRAIN.BATCH_SIZE": 4,
            "TEST.BATCH_SIZE": 4, "SOLVER.MAX_EPOCH": 1, "SOLVER.WARMUP_EPOCHS": 0.5, "LOG_PERIOD": 1,
            "OUTPUT_DIR": out_dir, **extra}
    return [str(x) for kv in opts.items() for x in kv]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The synthetic videos, generated once for this module."""
    from timesformer.data.datasets.synthetic import generate

    path = str(tmp_path_factory.mktemp("synthetic"))
    generate(path, 16)
    return path


def final_state(out_dir):
    """The newest checkpoint of a run."""
    from timesformer.checkpoint.checkpointer import Checkpointer

    ck = Checkpointer(out_dir, 0)
    path = ck.find_latest()
    assert path, f"no checkpoint in {out_dir}"
    return ck.load(path)


def _run_net(opts, **popen):
    cmd = [sys.executable, os.path.join(ROOT, "tools", "run_net.py"), "--cfg", QUICKSTART, *opts]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def test_killed_run_resumes_to_the_same_weights(data_dir, tmp_path):
    common = dict(**{"DATA.SYNTHETIC_NUM_VIDEOS": 16, "TRAIN.BATCH_SIZE": 2, "SOLVER.MAX_EPOCH": 2,
                     "TRAIN.CHECKPOINT_PERIOD_ITERS": 1, "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False,
                     "MODEL.DROP_PATH_RATE": 0.1, "TRAIN.CHECKPOINT_KEEP_LAST": 0})
    ref_dir, killed_dir = str(tmp_path / "ref"), str(tmp_path / "killed")
    ref = _run_net(tiny_opts(data_dir, ref_dir, **common))
    # the second epoch's first mid-epoch checkpoint (8 iterations per epoch): kill right after it
    trigger = os.path.join(killed_dir, "checkpoints", "checkpoint_epoch_00001_iter_000000009.pyth")
    proc = _run_net(tiny_opts(data_dir, killed_dir, **common))
    while not os.path.exists(trigger) and proc.poll() is None:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()[-2000:]
    resume_point = final_state(killed_dir)
    assert resume_point["epoch"] == 1 and 0 < resume_point["epoch_iteration"] < 8  # inside epoch 2
    resumed = _run_net(tiny_opts(data_dir, killed_dir, **common))
    out = resumed.communicate()[0].decode()
    assert resumed.returncode == 0, out[-3000:]
    assert "resuming at epoch 2" in out
    assert ref.wait() == 0, ref.stdout.read().decode()[-3000:]
    a, b = final_state(ref_dir), final_state(killed_dir)
    assert a["epoch"] == b["epoch"] == 2 and a["iteration"] == b["iteration"] == 16
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_gradient_accumulation_equals_the_large_batch(data_dir, tmp_path):
    common = {"SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 0.1, "SOLVER.WARMUP_EPOCHS": 0.0,
              "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False, "MODEL.DROP_PATH_RATE": 0.0}
    big = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "big"), **common,
                                            **{"TRAIN.BATCH_SIZE": 8}))
    acc = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "acc"), **common,
                                            **{"TRAIN.BATCH_SIZE": 4, "TRAIN.GLOBAL_BATCH_SIZE": 8}))
    run(big, torch.device("cpu"))
    run(acc, torch.device("cpu"))
    a, b = final_state(big.OUTPUT_DIR), final_state(acc.OUTPUT_DIR)
    assert a["iteration"] == 2 and b["iteration"] == 4  # 2 optimizer steps each
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k


def test_non_finite_loss_stops_naming_the_iteration(data_dir, tmp_path):
    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path), **{
        "SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 1e30, "SOLVER.WARMUP_EPOCHS": 0.0,
        "SOLVER.MAX_EPOCH": 3, "TEST.ENABLE": False, "TRAIN.EVAL_PERIOD": 0}))
    with pytest.raises(FloatingPointError, match=r"non-finite loss .* at iteration \d+ \(epoch \d+"):
        run(cfg, torch.device("cpu"))


@pytest.mark.parametrize("extra", [
    {"TRAIN.MIXED_PRECISION": "bf16", "SOLVER.CLIP_GRAD_NORM": 1.0, "TRAIN.ACTIVATION_CHECKPOINTING": True,
     "MIXUP.ENABLE": True, "SOLVER.LR_POLICY": "steps_with_relative_lrs"},
    {"TRAIN.MIXED_PRECISION": "fp16", "SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.CLIP_GRAD_NORM": 0.5},
])
def test_precision_clipping_checkpointing_mixup_train_and_log(data_dir, tmp_path, extra):
    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path), **extra, **{"TRAIN.EVAL_PERIOD": 1}))
    run(cfg, torch.device("cpu"))
    stats = read_json_lines(os.path.join(cfg.OUTPUT_DIR, "stats.jsonl"))
    kinds = [r["type"] for r in stats]
    assert kinds.count("train_iter") == 4 and kinds.count("train_epoch") == 1
    assert kinds.count("val_epoch") == 1 and kinds[-1] == "test_final"
    for r in stats:
        if r["type"].startswith("train"):
            assert torch.isfinite(torch.tensor(r["loss"])) and r["clips_per_s"] > 0 and r["lr"] >= 0
            assert {"data_time", "step_time", "top1_err", "top5_err", "gpu_mem_mb"} <= set(r)
    assert 0 <= stats[-1]["top1"] <= 100 and stats[-1]["num_videos"] == 8
