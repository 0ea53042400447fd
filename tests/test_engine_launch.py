"""Launching: two real CPU processes (gloo) see each other; a single process is a no-op world; a
torchrun world that the config does not expect and an explained error in a spawned process."""
import json
import os

import pytest
import torch

from timesformer.config import ConfigError, get_cfg
from timesformer.engine.launch import JobFailed, launch
from timesformer.utils import distributed as du
from timesformer.utils.logging import setup_logging

ENV_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


def _report(cfg, device) -> None:
    """Each process writes what it sees: rank, world, gathered ranks, summed tensor, device."""
    gathered = du.all_gather_object(du.get_rank())
    total = du.all_reduce_sum(torch.tensor([du.get_rank() + 1.0]))
    with open(os.path.join(cfg.OUTPUT_DIR, f"rank{du.get_rank()}.json"), "w") as f:
        json.dump({"rank": du.get_rank(), "world": du.get_world_size(), "gathered": gathered,
                   "sum": float(total), "device": str(device), "local": du.get_local_rank(),
                   "backend": torch.distributed.get_backend() if du.is_dist() else None}, f)


def _cfg(tmp_path, num_gpus):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path)
    cfg.NUM_GPUS = num_gpus
    return cfg


@pytest.mark.slow
def test_two_cpu_processes_with_gloo(tmp_path, monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    launch(_report, _cfg(tmp_path, 2))
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r, s in enumerate(seen):
        assert s == {"rank": r, "world": 2, "gathered": [0, 1], "sum": 3.0, "device": "cpu", "local": r,
                     "backend": "gloo"}


def test_single_process_is_plain(tmp_path, monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    launch(_report, _cfg(tmp_path, 0))
    s = json.loads((tmp_path / "rank0.json").read_text())
    assert s["world"] == 1 and s["gathered"] == [0] and s["sum"] == 1.0 and s["backend"] is None
    assert not du.is_dist()


def test_a_torchrun_world_the_config_does_not_expect_is_refused(tmp_path, monkeypatch):
    for k, v in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(du.find_free_port())}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=r"WORLD_SIZE = 2 processes \(LOCAL_WORLD_SIZE = 2\), but "
                                          r"NUM_GPUS x NUM_SHARDS = 1 x 1 = 1 .*--nproc_per_node"):
        launch(_report, _cfg(tmp_path, 0))
    assert not du.is_dist() and not (tmp_path / "rank0.json").exists()


def _diverge(cfg, device) -> None:
    raise FloatingPointError(f"non-finite loss nan at iteration 3 on rank {du.get_rank()}")


@pytest.mark.slow
def test_an_explained_error_in_a_spawned_process_is_one_line(tmp_path, monkeypatch, capfd):
    for k in ENV_KEYS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    setup_logging()  # onto this test's stdout: an earlier test's captured stream may be closed
    with pytest.raises(JobFailed, match=r"process [01] of 2 stopped with exit status 1"):
        launch(_diverge, _cfg(tmp_path, 2))
    err = capfd.readouterr().err
    assert "error: non-finite loss nan at iteration 3 on rank" in err and "Traceback" not in err
