"""Trainer: exact resume after a real SIGKILL (loader workers too), resuming without re-reading,
gradient accumulation, torch.compile, non-finite loss, precision options."""
import math
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import QUICKSTART, final_state, start_run_net, tiny_opts
from timesformer.config import ConfigError, load_config
from timesformer.data import VideoDataset
from timesformer.engine import run
from timesformer.utils.logging import read_json_lines


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(data_dir, tmp_path):
    common = dict(**{"DATA.SYNTHETIC_NUM_VIDEOS": 16, "TRAIN.BATCH_SIZE": 2, "SOLVER.MAX_EPOCH": 2,
                     "TRAIN.CHECKPOINT_PERIOD_ITERS": 1, "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False,
                     "MODEL.DROP_PATH_RATE": 0.1, "TRAIN.CHECKPOINT_KEEP_LAST": 0})
    # the killed run reads with two persistent workers, the reference in the main process: each
    # clip's crops come from (seed, epoch, index) alone, so both see the same clips
    workers = {"DATA_LOADER.NUM_WORKERS": 2, "DATA_LOADER.PERSISTENT_WORKERS": True}
    ref_dir, killed_dir = str(tmp_path / "ref"), str(tmp_path / "killed")
    ref = start_run_net(tiny_opts(data_dir, ref_dir, **common))
    # the second epoch's first mid-epoch checkpoint (8 iterations per epoch): kill right after it
    trigger = os.path.join(killed_dir, "checkpoints", "checkpoint_epoch_00001_iter_000000009.pyth")
    proc = start_run_net(tiny_opts(data_dir, killed_dir, **common, **workers))
    while not os.path.exists(trigger) and proc.poll() is None:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()[-2000:]
    resume_point = final_state(killed_dir)
    assert resume_point["epoch"] == 1 and 0 < resume_point["epoch_iteration"] < 8  # inside epoch 2
    resumed = start_run_net(tiny_opts(data_dir, killed_dir, **common, **workers))
    out = resumed.communicate()[0].decode()
    assert resumed.returncode == 0, out[-3000:]
    assert "resuming at epoch 2" in out
    assert ref.wait() == 0, ref.stdout.read().decode()[-3000:]
    a, b = final_state(ref_dir), final_state(killed_dir)
    assert a["epoch"] == b["epoch"] == 2 and a["iteration"] == b["iteration"] == 16
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def large_batch_reference(cfg, group: int) -> dict:
    """Weights after one epoch of plain SGD steps, each on ``group`` of the trainer's batches at once."""
    from timesformer.data import normalize
    from timesformer.engine.trainer import Trainer, seed_all
    from timesformer.models import build_model
    from timesformer.solver import build_optimizer

    seed_all(cfg.RNG_SEED)
    model = build_model(cfg)
    batches = list(Trainer(cfg, torch.device("cpu"), model)._epoch_batches())  # the epoch's order
    optimizer = build_optimizer(cfg, model)
    for i in range(0, len(batches), group):
        part = batches[i:i + group]
        x = normalize(torch.cat([b["frames"] for b in part]), cfg.DATA.MEAN, cfg.DATA.STD)
        F.cross_entropy(model(x), torch.cat([b["label"] for b in part])).backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.state_dict()


def test_gradient_accumulation_equals_the_large_batch(data_dir, tmp_path):
    common = {"SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 0.1, "SOLVER.WARMUP_EPOCHS": 0.0,
              "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False, "MODEL.DROP_PATH_RATE": 0.0}
    big = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "big"), **common,
                                            **{"TRAIN.BATCH_SIZE": 8}))
    acc = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "acc"), **common,
                                            **{"TRAIN.BATCH_SIZE": 8, "TRAIN.MAX_BATCH_PER_PROCESS": 4}))
    run(big, torch.device("cpu"))
    run(acc, torch.device("cpu"))
    a, b = final_state(big.OUTPUT_DIR), final_state(acc.OUTPUT_DIR)
    assert a["iteration"] == 2 and b["iteration"] == 4  # 2 optimizer steps each
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k


def test_a_partial_last_accumulation_group_is_the_mean_of_its_batches(data_dir, tmp_path):
    # 4 batches of 4 per epoch, accumulated in groups of 3: the last group is one batch alone
    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "acc"), **{
        "SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 0.5, "SOLVER.WARMUP_EPOCHS": 0.0,
        "SOLVER.LR_POLICY": "steps_with_relative_lrs", "SOLVER.STEPS": "[0]", "SOLVER.LRS": "[1.0]",
        "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False, "TRAIN.BATCH_SIZE": 12, "TRAIN.MAX_BATCH_PER_PROCESS": 4}))
    run(cfg, torch.device("cpu"))
    trained = final_state(cfg.OUTPUT_DIR)["model"]
    cfg.defrost()
    cfg.OUTPUT_DIR = str(tmp_path / "reference")
    reference = large_batch_reference(cfg, group=3)
    for k in reference:
        assert torch.allclose(trained[k], reference[k], atol=1e-6), k


def resume_from(checkpoint: str, cfg, monkeypatch) -> list:
    """Run ``cfg`` in a new OUTPUT_DIR holding only ``checkpoint``; the dataset indices it read."""
    os.makedirs(os.path.join(cfg.OUTPUT_DIR, "checkpoints"))
    shutil.copy(checkpoint, os.path.join(cfg.OUTPUT_DIR, "checkpoints"))
    reads = []
    getitem = VideoDataset.__getitem__
    monkeypatch.setattr(VideoDataset, "__getitem__", lambda self, i: reads.append(i) or getitem(self, i))
    run(cfg, torch.device("cpu"))
    return reads


def test_a_resumed_epoch_reads_only_its_remaining_batches(data_dir, tmp_path, monkeypatch):
    common = {"TRAIN.CHECKPOINT_PERIOD_ITERS": 1, "TRAIN.CHECKPOINT_KEEP_LAST": 0, "TRAIN.EVAL_PERIOD": 0,
              "TEST.ENABLE": False, "MODEL.DROP_PATH_RATE": 0.1}
    full = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "full"), **common))
    run(full, torch.device("cpu"))  # 4 iterations of 4 clips, a checkpoint after each
    halfway = os.path.join(full.OUTPUT_DIR, "checkpoints", "checkpoint_epoch_00000_iter_000000002.pyth")
    reads = resume_from(halfway, load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "resumed"), **common)),
                        monkeypatch)
    assert len(reads) == 2 * 4  # the last two batches only
    a, b = final_state(full.OUTPUT_DIR), final_state(str(tmp_path / "resumed"))
    assert a["iteration"] == b["iteration"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_compiled_training_applies_the_inductor_workaround(data_dir, tmp_path, monkeypatch):
    import torch._inductor.config as inductor_config
    from torch._dynamo.utils import counters

    monkeypatch.setattr(inductor_config.triton, "coalesce_tiling_analysis", True)
    graphs = counters["stats"]["unique_graphs"]
    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path), **{
        "TRAIN.COMPILE": True, "MODEL.DEPTH": 1, "DATA.NUM_FRAMES": 2, "TRAIN.BATCH_SIZE": 8,
        "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False}))
    run(cfg, torch.device("cpu"))  # 2 iterations
    assert inductor_config.triton.coalesce_tiling_analysis is False
    assert counters["stats"]["unique_graphs"] > graphs  # the step ran through torch.compile
    stats = [r for r in read_json_lines(os.path.join(cfg.OUTPUT_DIR, "stats.jsonl")) if r["type"] == "train_iter"]
    assert len(stats) == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in stats)
    state = final_state(cfg.OUTPUT_DIR)["model"]
    assert not any("_orig_mod" in k for k in state)  # checkpoints hold the plain module's names


def test_non_finite_loss_stops_naming_the_iteration(data_dir, tmp_path):
    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path), **{
        "SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 1e30, "SOLVER.WARMUP_EPOCHS": 0.0,
        "SOLVER.MAX_EPOCH": 3, "TEST.ENABLE": False, "TRAIN.EVAL_PERIOD": 0}))
    with pytest.raises(FloatingPointError, match=r"non-finite loss .* at iteration \d+ \(epoch \d+") as e:
        run(cfg, torch.device("cpu"))
    assert "no checkpoint to restart from" in str(e.value) and "from scratch" in str(e.value)
    assert str(e.value) in Path(cfg.OUTPUT_DIR, "log.txt").read_text()


def _diverging(data_dir, out_dir, **extra):
    """A run whose constant learning rate blows it up within a few iterations, a checkpoint after every step."""
    return load_config(QUICKSTART, tiny_opts(data_dir, out_dir, **{
        "SOLVER.LR_POLICY": "steps_with_relative_lrs", "SOLVER.WARMUP_EPOCHS": 0.0, "SOLVER.WEIGHT_DECAY": 0.0,
        "SOLVER.MAX_EPOCH": 3, "TEST.ENABLE": False,
        "TRAIN.EVAL_PERIOD": 0, "TRAIN.CHECKPOINT_PERIOD_ITERS": 1, "TRAIN.CHECKPOINT_PERIOD": 1,
        "TRAIN.CHECKPOINT_KEEP_LAST": 0, **extra}))


def _non_finite(state: dict) -> list:
    tensors = list(state["model"].items()) + [(f"optimizer {i} {k}", v) for i, s in state["optimizer"]["state"].items()
                                              for k, v in s.items()]
    return [k for k, v in tensors if v.is_floating_point() and not torch.isfinite(v).all()]


def test_a_blown_up_step_is_not_saved_and_the_error_names_the_last_finite_checkpoint(data_dir, tmp_path):
    """AdamW at lr 1000: a few steps in, a step turns weights and optimizer state to inf/NaN while
    the loss that produced it was finite. That state is not written (it was, before); every
    checkpoint on disk is finite and records a finite loss; the error, also in log.txt, names the
    newest one and how to restart from it."""
    from timesformer.checkpoint.checkpointer import Checkpointer

    cfg = _diverging(data_dir, str(tmp_path), **{"SOLVER.OPTIMIZING_METHOD": "adamw", "SOLVER.BASE_LR": 1e3})
    with pytest.raises(FloatingPointError) as e:
        run(cfg, torch.device("cpu"))
    ck = Checkpointer(cfg.OUTPUT_DIR, 0)
    files = ck.list()
    assert files
    states = [ck.load(path) for path in files]
    assert [_non_finite(state) for state in states] == [[]] * len(files)
    assert all(math.isfinite(state["loss"]) for state in states)
    msg = str(e.value)
    assert msg.startswith(f"not saving the checkpoint of iteration {len(files) + 1}: non-finite values in the ")
    assert f"TRAIN.CHECKPOINT_FILE_PATH {files[-1]} OUTPUT_DIR <a new folder>" in msg
    assert "would resume from" not in msg  # the newest checkpoint is the one to restart from
    assert msg in Path(cfg.OUTPUT_DIR, "log.txt").read_text()


def test_a_non_finite_loss_names_the_last_checkpoint_whose_weights_gave_finite_losses(data_dir, tmp_path):
    """SGD at lr 10: the loss grows by orders of magnitude each step (finite weights, up to 1e4 and
    more), then is NaN. The newest checkpoint holds the weights that gave the NaN: the error names
    the one before it, lists the recorded losses (the blow-up shows), and warns that rerunning the
    folder would resume from the newest."""
    from timesformer.checkpoint.checkpointer import Checkpointer

    cfg = _diverging(data_dir, str(tmp_path), **{"SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 10.0})
    with pytest.raises(FloatingPointError, match=r"non-finite loss nan at iteration \d+ ") as e:
        run(cfg, torch.device("cpu"))
    ck = Checkpointer(cfg.OUTPUT_DIR, 0)
    files = ck.list()
    losses = [ck.load(p)["loss"] for p in files]
    assert len(files) >= 3 and losses[-1] > 1e3 * losses[0]
    msg = str(e.value)
    assert f"at iteration {len(files) + 1} " in msg
    assert f"TRAIN.CHECKPOINT_FILE_PATH {files[-2]} OUTPUT_DIR <a new folder>" in msg
    assert f"rerunning with OUTPUT_DIR {cfg.OUTPUT_DIR} would resume from {files[-1]}" in msg
    shown = ", ".join(f"{i + 1}: {loss:.2g}" for i, loss in enumerate(losses))
    assert f"recorded losses: iteration {shown};" in msg
    assert msg in Path(cfg.OUTPUT_DIR, "log.txt").read_text()


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
            assert {"data_time", "step_time", "top1_err", "gpu_mem_mb"} <= set(r)
            assert "top5_err" not in r  # 2 classes: top-5 is 100% by construction
    assert 0 <= stats[-1]["top1"] <= 100 and stats[-1]["num_videos"] == 8


def test_hooks_take_their_settings_and_do_not_keep_the_trainer_alive(data_dir, tmp_path):
    """As detectron2's: the settings are the hooks' arguments, and the trainer is a weak reference,
    so a trainer nobody holds is freed at once (no cycle through its hooks)."""
    import weakref

    from timesformer.engine import hooks
    from timesformer.engine.trainer import Trainer
    from timesformer.models import build_model

    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path), **{
        "TRAIN.CHECKPOINT_PERIOD": 2, "TRAIN.CHECKPOINT_PERIOD_ITERS": 3, "TRAIN.EVAL_PERIOD": 4}))
    trainer = Trainer(cfg, torch.device("cpu"), build_model(cfg))
    saver = next(h for h in trainer.hooks if isinstance(h, hooks.PeriodicCheckpointer))
    assert (saver.epoch_period, saver.iter_period) == (2, 3)
    assert next(h for h in trainer.hooks if isinstance(h, hooks.EvalHook)).period == 4
    assert saver.trainer.max_epoch == trainer.max_epoch
    alive = weakref.ref(trainer)
    del trainer
    assert alive() is None


def test_a_mid_epoch_resume_with_another_split_of_the_batch_continues_at_the_same_clip(data_dir, tmp_path,
                                                                                       monkeypatch):
    # 8 clips per step as 2 clips x 4 iterations; resumed as 4 clips x 2 iterations (what another
    # process count also changes): the checkpoint after step 1 is 8 clips into the epoch either way
    common = {"TRAIN.CHECKPOINT_PERIOD_ITERS": 1, "TRAIN.CHECKPOINT_KEEP_LAST": 0, "TRAIN.EVAL_PERIOD": 0,
              "TEST.ENABLE": False, "MODEL.DROP_PATH_RATE": 0.0, "SOLVER.OPTIMIZING_METHOD": "sgd",
              "SOLVER.WARMUP_EPOCHS": 0.0, "TRAIN.BATCH_SIZE": 8}
    full = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "full"), **common,
                                             **{"TRAIN.MAX_BATCH_PER_PROCESS": 2}))
    run(full, torch.device("cpu"))
    step1 = os.path.join(full.OUTPUT_DIR, "checkpoints", "checkpoint_epoch_00000_iter_000000004.pyth")
    resumed = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "resumed"), **common,
                                                **{"TRAIN.MAX_BATCH_PER_PROCESS": 4}))
    assert len(resume_from(step1, resumed, monkeypatch)) == 8  # the epoch's second half: 2 iterations of 4
    a, b = final_state(full.OUTPUT_DIR), final_state(str(tmp_path / "resumed"))
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k


@pytest.mark.slow
@pytest.mark.parametrize("cap", [2, 1])
def test_uneven_shares_over_three_processes_step_as_one_process_on_all_the_clips(data_dir, tmp_path, cap):
    # 8 clips per step over 3 CPU processes (gloo): shares 3, 3, 2, in 2 iterations (cap 2: 2+1, 2+1,
    # 1+1) or 3 (cap 1: the last process idles through its third with a clip of weight 0). Each
    # step's update is the mean gradient over its 8 clips: one process running them at once agrees.
    common = {"SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 0.5, "SOLVER.WARMUP_EPOCHS": 0.0,
              "SOLVER.LR_POLICY": "steps_with_relative_lrs", "SOLVER.STEPS": "[0]", "SOLVER.LRS": "[1.0]",
              "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False, "MODEL.DROP_PATH_RATE": 0.0, "TRAIN.BATCH_SIZE": 8}
    three = start_run_net(tiny_opts(data_dir, str(tmp_path / "three"), **common, **{
        "NUM_GPUS": 3, "TRAIN.MAX_BATCH_PER_PROCESS": cap}))
    one = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "one"), **common, **{"NUM_GPUS": 1}))
    run(one, torch.device("cpu"))
    out = three.communicate()[0].decode()
    assert three.returncode == 0, out[-3000:]
    a, b = final_state(one.OUTPUT_DIR), final_state(str(tmp_path / "three"))
    assert a["iteration"] == 2 and b["iteration"] == 2 * (3 if cap == 1 else 2)  # 2 optimizer steps each
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    # the logged loss is the mean over the epoch's clips, however they were split
    [ea], [eb] = ([r for r in read_json_lines(os.path.join(d, "stats.jsonl")) if r["type"] == "train_epoch"]
                  for d in (one.OUTPUT_DIR, str(tmp_path / "three")))
    assert ea["loss"] == pytest.approx(eb["loss"], rel=1e-5)


def test_uneven_micro_batches_match_the_large_batch_and_resume_after_whole_steps(data_dir, tmp_path, monkeypatch):
    # 8 clips per step at most 3 at once: iterations of 3, 3 and 2 clips (data/batching.py's uneven
    # path on one process); a run resumed from the checkpoint after step 1 reads only step 2's clips
    common = {"SOLVER.OPTIMIZING_METHOD": "sgd", "SOLVER.BASE_LR": 0.5, "SOLVER.WARMUP_EPOCHS": 0.0,
              "TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False, "MODEL.DROP_PATH_RATE": 0.0, "TRAIN.BATCH_SIZE": 8,
              "TRAIN.CHECKPOINT_PERIOD_ITERS": 1, "TRAIN.CHECKPOINT_KEEP_LAST": 0}
    big = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "big"), **common))
    split = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "split"), **common,
                                              **{"TRAIN.MAX_BATCH_PER_PROCESS": 3}))
    run(big, torch.device("cpu"))
    run(split, torch.device("cpu"))
    a, b = final_state(big.OUTPUT_DIR), final_state(split.OUTPUT_DIR)
    assert a["iteration"] == 2 and b["iteration"] == 6
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    step1 = os.path.join(split.OUTPUT_DIR, "checkpoints", "checkpoint_epoch_00000_iter_000000003.pyth")
    resumed = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "resumed"), **common,
                                                **{"TRAIN.MAX_BATCH_PER_PROCESS": 3}))
    assert len(resume_from(step1, resumed, monkeypatch)) == 8
    c = final_state(resumed.OUTPUT_DIR)
    for k in b["model"]:
        assert torch.equal(b["model"][k], c["model"][k]), k


def test_an_uneven_batch_larger_than_the_training_set_is_refused(data_dir, tmp_path):
    # 20 clips at most 3 at once: 7 uneven iterations per step, and no whole step in 16 videos
    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path), **{
        "TRAIN.BATCH_SIZE": 20, "TRAIN.MAX_BATCH_PER_PROCESS": 3, "TEST.ENABLE": False}))
    with pytest.raises(ConfigError, match=r"TRAIN.BATCH_SIZE = 20 is invalid: expected at most the \d+ videos"):
        run(cfg, torch.device("cpu"))
