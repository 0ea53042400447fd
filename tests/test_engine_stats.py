"""Statistics after a real SIGKILL: stats.jsonl and TensorBoard hold one value per iteration, the
resumed epoch's record equals an uninterrupted run's, and a validation cut short is redone."""
import glob
import os
import signal
import time

import pytest
import torch

from tests.conftest import QUICKSTART, final_state, start_run_net, tiny_opts
from timesformer.utils.logging import read_json_lines

# 16 videos in batches of 2: 8 iterations per epoch; checkpoints every 2 iterations and at the end;
# 8 validation views, one per batch, so a validation lasts long enough to be killed inside
COMMON = {"DATA.SYNTHETIC_NUM_VIDEOS": 16, "TRAIN.BATCH_SIZE": 2, "SOLVER.MAX_EPOCH": 2,
          "TRAIN.CHECKPOINT_PERIOD": 1, "TRAIN.CHECKPOINT_PERIOD_ITERS": 2, "TRAIN.EVAL_PERIOD": 1,
          "TEST.ENABLE": False, "TEST.BATCH_SIZE": 1, "MODEL.DROP_PATH_RATE": 0.1,
          "TRAIN.CHECKPOINT_KEEP_LAST": 0}
COMPARED = ("type", "epoch", "iter", "epoch_iter", "loss", "top1_err", "lr", "top1", "num_views")


def _stats(out_dir) -> list:
    path = os.path.join(out_dir, "stats.jsonl")
    return read_json_lines(path) if os.path.exists(path) else []


def _kill_when(proc, done) -> None:
    """SIGKILL ``proc`` as soon as ``done()`` holds (polled), failing if it exits first."""
    while not done():
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def _kill_in_validation(proc) -> None:
    """SIGKILL ``proc`` right after its first validation batch (read from its log on stdout)."""
    for line in iter(proc.stdout.readline, b""):
        if b" val 1/8 " in line:
            proc.send_signal(signal.SIGKILL)
            break
    assert proc.wait() == -signal.SIGKILL


def _scalars(out_dir) -> dict:
    """{tag: [(step, value), ...]} as TensorBoard's reader sees the run's event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(os.path.join(out_dir, "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.slow
def test_killed_twice_run_logs_what_an_uninterrupted_run_logs(data_dir, tmp_path):
    ref_dir, killed_dir = str(tmp_path / "ref"), str(tmp_path / "killed")
    ref = start_run_net(tiny_opts(data_dir, ref_dir, **COMMON))
    # kill 1: inside epoch 1's validation, after its end-of-epoch checkpoint
    proc = start_run_net(tiny_opts(data_dir, killed_dir, **COMMON))
    _kill_in_validation(proc)
    kinds = [(r["type"], r["epoch"]) for r in _stats(killed_dir)]
    assert ("train_epoch", 1) in kinds and ("val_epoch", 1) not in kinds  # killed inside validation
    # kill 2: in epoch 2 once iteration 13 is logged; the newest checkpoint is at iteration 12 (a
    # little later if the kill lags), so the resumed run redoes iterations it has already logged
    proc = start_run_net(tiny_opts(data_dir, killed_dir, **COMMON))
    _kill_when(proc, lambda: any(r.get("iter", 0) >= 13 for r in _stats(killed_dir)))
    newest = sorted(glob.glob(os.path.join(killed_dir, "checkpoints", "*.pyth")))[-1]
    assert int(newest[-14:-5]) < max(r["iter"] for r in _stats(killed_dir))
    resumed = start_run_net(tiny_opts(data_dir, killed_dir, **COMMON))
    out = resumed.communicate()[0].decode()
    assert resumed.returncode == 0, out[-3000:]
    assert ref.wait() == 0, ref.stdout.read().decode()[-3000:]

    def compared(out_dir):
        return [{k: r[k] for k in COMPARED if k in r} for r in _stats(out_dir)]

    ref_stats, killed_stats = compared(ref_dir), compared(killed_dir)
    assert [r["type"] for r in ref_stats] == (["train_iter"] * 8 + ["train_epoch", "val_epoch"]) * 2
    # one record per iteration and kind, equal to the uninterrupted run's: the epoch averages too
    assert sorted(killed_stats, key=lambda r: (r["iter"], r["type"])) == \
        sorted(ref_stats, key=lambda r: (r["iter"], r["type"]))
    ref_tb, killed_tb = _scalars(ref_dir), _scalars(killed_dir)
    assert set(ref_tb) == set(killed_tb) and "val_epoch/top1" in killed_tb
    for tag in ("train_iter/loss", "train_iter/lr", "train_epoch/loss", "train_epoch/top1_err",
                "val_epoch/top1", "val_epoch/loss"):
        assert killed_tb[tag] == ref_tb[tag], tag
    for tag, events in killed_tb.items():
        steps = [step for step, _ in events]
        assert steps == sorted(set(steps)), tag  # one value per step
    # resuming at an epoch's start seeds it afresh, as the uninterrupted run did: the same weights
    a, b = final_state(ref_dir)["model"], final_state(killed_dir)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _tb_scalars(path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(path, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_test_result_at_the_last_iteration_once_no_top5_of_two_classes_run_eta(data_dir, tmp_path):
    from timesformer.config import load_config
    from timesformer.engine import run

    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path), **{
        "SOLVER.MAX_EPOCH": 2, "TRAIN.EVAL_PERIOD": 0, "TRAIN.CHECKPOINT_PERIOD": 1}))
    run(cfg, torch.device("cpu"))  # 2 epochs of 4 iterations, then the test
    run(cfg, torch.device("cpu"))  # the same command again: resumes at the end and tests again
    stats = _stats(cfg.OUTPUT_DIR)
    assert [r["type"] for r in stats] == (["train_iter"] * 4 + ["train_epoch"]) * 2 + ["test_final"]
    assert stats[-1]["iter"] == 8
    test_tb = _tb_scalars(os.path.join(cfg.OUTPUT_DIR, "tensorboard", "test"))
    assert test_tb["test_final/top1"] == [(8, pytest.approx(stats[-1]["top1"]))]  # once, at the last step
    # two classes: top-5 is 100% by construction and is not reported
    assert not any(k.startswith("top5") for r in stats for k in r)
    assert not any("top5" in tag for tag in list(test_tb) + list(_scalars(cfg.OUTPUT_DIR)))
    # the ETA covers the run: at the end of epoch 1 the second epoch is still to come
    assert stats[3]["epoch_iter"] == 4 and stats[3]["eta_s"] > 0
