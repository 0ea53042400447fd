"""Launching: two real CPU processes (gloo) see each other; a single process is a no-op world."""
import json
import os

import torch

from timesformer.config import get_cfg
from timesformer.engine.launch import launch
from timesformer.utils import distributed as du


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
