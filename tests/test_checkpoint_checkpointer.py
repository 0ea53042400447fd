"""Training checkpoints: atomic saves, keep-last-K, a half-written newest file, resume, fine-tune."""
import logging
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.checkpoints import damage_data, half_copy
from timesformer.checkpoint import (
    Checkpointer,
    Weights,
    capture_rng_state,
    checkpointer,
    restore_rng_state,
    write_weights,
)
from timesformer.config import get_cfg
from timesformer.engine.resume import resume_or_load
from timesformer.models import TimeSformer

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_frames=4)


def _setup(num_classes: int = 5):
    model = TimeSformer(num_classes=num_classes, **TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    return model, opt, scaler


def _train_step(model, opt, scaler) -> None:
    loss = model(torch.randn(2, 3, 4, 32, 32)).logsumexp(dim=1).mean()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    opt.zero_grad()


def _state(model, opt, scaler, epoch: int, iteration: int, epoch_iteration: int = 0) -> dict:
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
            "epoch": epoch, "iteration": iteration, "epoch_iteration": epoch_iteration,
            "rng": capture_rng_state(), "scheduler": {"last_lr": 0.5}, "cfg": get_cfg().dump()}


def _cfg(**train):
    cfg = get_cfg()
    for k, v in train.items():
        cfg.TRAIN[k] = v
    return cfg


def test_keep_last_and_atomic_names(tmp_path):
    ck = Checkpointer(str(tmp_path), keep_last=2)
    model, opt, scaler = _setup()
    paths = [ck.save(_state(model, opt, scaler, e, 10 * e), e, 10 * e) for e in range(1, 5)]
    assert ck.dir == str(tmp_path / "checkpoints")
    assert ck.list() == paths[-2:]
    assert sorted(os.listdir(ck.dir)) == sorted(os.path.basename(p) for p in paths[-2:])  # no temp files
    assert Checkpointer(ck.dir, 0).dir == ck.dir  # a path already ending in checkpoints is used as is


@pytest.mark.parametrize("damage", ["half_copied", "bad_crc"])
def test_pruning_never_deletes_the_new_or_newest_readable_checkpoint(tmp_path, caplog, damage):
    """An unreadable file whose name sorts later (a copy cut short, blocks lost, another run's file)
    is moved aside as ``*.corrupt`` and not counted as kept: the file just saved and the newest
    readable ones stay, and a restart resumes from the new one."""
    ck = Checkpointer(str(tmp_path), keep_last=2)
    model, opt, scaler = _setup()
    _train_step(model, opt, scaler)
    oldest = ck.save(_state(model, opt, scaler, 1, 8), 1, 8)
    older = ck.save(_state(model, opt, scaler, 2, 16), 2, 16)
    stray = ck.path_for(9, 72)
    if damage == "half_copied":
        half_copy(older, stray)
    else:
        shutil.copy(older, stray)
        damage_data(stray)  # its index reads; its tensor data fail their CRC-32
    with caplog.at_level(logging.WARNING):
        new = ck.save(_state(model, opt, scaler, 3, 24), 3, 24)
    assert ck.list() == [older, new]  # the stray file is not one of the two kept
    assert not os.path.exists(oldest) and os.path.exists(stray + ".corrupt")
    assert f"moved unreadable checkpoint {stray} aside to {stray}.corrupt" in caplog.text
    start = resume_or_load(_cfg(), ck, _setup()[0])
    assert (start["path"], start["epoch"], start["iteration"]) == (new, 3, 24)

    ck.keep_last = 1  # the file just written is kept even when an unreadable one sorts after it
    later = ck.path_for(9, 80)
    half_copy(new, later)
    newest = ck.save(_state(model, opt, scaler, 4, 32), 4, 32)
    assert ck.list() == [newest] and os.path.exists(later + ".corrupt")
    half_copy(newest, ck.path_for(9, 88))
    ck.prune()  # without a file just written: the newest readable one is kept
    assert ck.list() == [newest]


def test_half_written_newest_is_skipped_with_a_warning(tmp_path, caplog):
    ck = Checkpointer(str(tmp_path), keep_last=3)
    model, opt, scaler = _setup()
    good = ck.save(_state(model, opt, scaler, 1, 8), 1, 8)
    newest = ck.save(_state(model, opt, scaler, 2, 16), 2, 16)
    data = Path(newest).read_bytes()
    with open(newest, "wb") as f:  # what a copy cut off half-way leaves behind
        f.write(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        assert ck.find_latest() == good
    assert "skipping unreadable checkpoint" in caplog.text and os.path.basename(newest) in caplog.text
    os.remove(good)
    assert ck.find_latest() is None


def test_a_save_that_fails_partway_leaves_the_previous_newest_and_no_temp_file(tmp_path, monkeypatch):
    ck = Checkpointer(str(tmp_path), keep_last=2)
    model, opt, scaler = _setup()
    ck.save(_state(model, opt, scaler, 1, 8), 1, 8)
    newest = ck.save(_state(model, opt, scaler, 2, 16), 2, 16)
    before = Path(newest).read_bytes()

    def save_until_the_disk_is_full(obj, f, *args, **kwargs):
        f.write(before[:1000])  # the start of a valid archive, then the write fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpointer.torch, "save", save_until_the_disk_is_full)
    with pytest.raises(OSError, match="No space left"):
        ck.save(_state(model, opt, scaler, 3, 24), 3, 24)
    with pytest.raises(OSError, match="No space left"):
        ck.save(_state(model, opt, scaler, 2, 16), 2, 16)  # over the newest file's own name
    with pytest.raises(OSError, match="No space left"):  # tools/convert_checkpoint.py writes the same way
        write_weights(Weights(model.model.state_dict(), "timesformer", "memory", meta=dict(num_heads=2)),
                      str(tmp_path / "w" / "a.pth"), "timesformer")
    monkeypatch.undo()
    assert os.listdir(tmp_path / "w") == []
    assert sorted(os.listdir(ck.dir)) == ["checkpoint_epoch_00001_iter_000000008.pyth",
                                          "checkpoint_epoch_00002_iter_000000016.pyth"]  # no temp file
    assert Path(newest).read_bytes() == before
    assert ck.find_latest() == newest
    start = resume_or_load(_cfg(), ck, _setup()[0])
    assert (start["path"], start["epoch"], start["iteration"]) == (newest, 2, 16)


def test_a_stale_temp_file_is_ignored_then_pruned(tmp_path):
    ck = Checkpointer(str(tmp_path), keep_last=2)
    model, opt, scaler = _setup()
    good = ck.save(_state(model, opt, scaler, 1, 8), 1, 8)
    stale = ck.path_for(5, 40) + f".tmp{os.getpid()}"  # a killed save of a later epoch (a PID reused)
    with open(stale, "wb") as f:
        f.write(Path(good).read_bytes())  # even a complete one: it was never renamed into place
    assert ck.list() == [good] and ck.find_latest() == good and ck.load_latest()[0] == good
    newer = ck.save(_state(model, opt, scaler, 2, 16), 2, 16)
    assert sorted(os.listdir(ck.dir)) == [os.path.basename(good), os.path.basename(newer)]


def test_damaged_data_in_the_newest_falls_back_to_the_older_one(tmp_path, caplog):
    """Blocks of tensor data lost in a crash: the archive index reads (find_latest accepts it), but
    the data fail their CRC-32, so resuming takes the next older checkpoint with a warning."""
    ck = Checkpointer(str(tmp_path), keep_last=3)
    model, opt, scaler = _setup()
    _train_step(model, opt, scaler)
    good = ck.save(_state(model, opt, scaler, 1, 8), 1, 8)
    newest = ck.save(_state(model, opt, scaler, 2, 16), 2, 16)
    damage_data(newest)  # zeros where the tensor's bytes were
    assert ck.find_latest() == newest  # the cheap index check cannot see it
    with caplog.at_level(logging.WARNING):
        start_at = resume_or_load(_cfg(), ck, _setup()[0])
    assert start_at["path"] == good and start_at["epoch"] == 1
    assert f"skipping unreadable checkpoint {newest} (ValueError: damaged: " in caplog.text
    with pytest.raises(ValueError, match="Bad CRC-32"):
        Checkpointer.load(newest)


def test_resume_restores_model_optimizer_scaler_schedule_and_rng(tmp_path):
    torch.manual_seed(0)
    model, opt, scaler = _setup()
    _train_step(model, opt, scaler)
    ck = Checkpointer(str(tmp_path), keep_last=3)
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    ck.save(_state(model, opt, scaler, epoch=2, iteration=30, epoch_iteration=6), 2, 30)
    expected_draws = (random.random(), np.random.rand(), torch.rand(1))

    model2, opt2, scaler2 = TimeSformer(num_classes=5, **TINY), None, torch.amp.GradScaler("cpu")
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3)
    seen = []
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    start = resume_or_load(_cfg(), ck, model2, opt2, scaler2, scheduler_state_setter=seen.append)
    assert (start["epoch"], start["iteration"], start["epoch_iteration"]) == (2, 30, 6)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected_draws
    assert seen == [{"last_lr": 0.5}]
    assert scaler2.get_scale() == scaler.get_scale()
    for k, v in model.state_dict().items():
        assert torch.equal(model2.state_dict()[k], v)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert s1.keys() == s2.keys() and all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)


def test_rng_state_is_weights_only_loadable(tmp_path):
    torch.save(capture_rng_state(), tmp_path / "rng.pt")
    state = torch.load(tmp_path / "rng.pt", weights_only=True)
    a = np.random.rand(3)
    restore_rng_state(state)
    assert np.array_equal(np.random.rand(3), a)


def test_finetune_loads_weights_only_and_a_preempted_finetune_resumes(tmp_path):
    src, src_opt, src_scaler = _setup(num_classes=5)
    weights = tmp_path / "k400.pyth"
    torch.save({"model_state": src.state_dict(), "epoch": 14, "cfg": ""}, weights)  # reference layout
    cfg = _cfg(FINETUNE=True, CHECKPOINT_FILE_PATH=str(weights))
    ck = Checkpointer(str(tmp_path / "run"), keep_last=3)

    model, opt, scaler = _setup(num_classes=7)  # another dataset: the head is dropped
    assert resume_or_load(cfg, ck, model, opt, scaler) == {}
    assert torch.equal(model.model.blocks[0].attn.qkv.weight, src.model.blocks[0].attn.qkv.weight)
    assert opt.state_dict()["state"] == {}  # no optimizer state taken from the source
    _train_step(model, opt, scaler)
    ck.save(_state(model, opt, scaler, epoch=1, iteration=4, epoch_iteration=2), 1, 4)

    # preempted: the same config again; the run's own newest checkpoint wins over the weights file
    model2, opt2, scaler2 = _setup(num_classes=7)
    start = resume_or_load(cfg, ck, model2, opt2, scaler2)
    assert (start["epoch"], start["iteration"]) == (1, 4) and start["path"] == ck.list()[-1]
    assert torch.equal(model2.model.head.weight, model.model.head.weight)
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_full_state_from_checkpoint_file_path(tmp_path):
    src, opt, scaler = _setup()
    _train_step(src, opt, scaler)
    path = tmp_path / "checkpoint_epoch_00010.pyth"
    torch.save({"model_state": src.state_dict(), "optimizer_state": opt.state_dict(), "epoch": 9, "cfg": ""}, path)
    ck = Checkpointer(str(tmp_path / "run"))
    model, opt2, _ = _setup()
    start = resume_or_load(_cfg(CHECKPOINT_FILE_PATH=str(path)), ck, model, opt2)
    assert start["epoch"] == 10  # the reference stored the last finished epoch
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
    other, _, _ = _setup(num_classes=3)
    with pytest.raises(ValueError, match="TRAIN.FINETUNE"):
        resume_or_load(_cfg(CHECKPOINT_FILE_PATH=str(path)), ck, other)
    assert resume_or_load(_cfg(), ck, model) == {}  # nothing to resume, nothing to load
