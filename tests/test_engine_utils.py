"""Logging, progress and meters: what the user sees and what stats.jsonl holds."""
import logging
import math

import pytest
import torch

from timesformer.utils.logging import JsonLinesWriter, read_json_lines, setup_logging
from timesformer.utils.meters import MeterGroup, topk_correct
from timesformer.utils.progress import Progress


def test_plain_lines_off_a_terminal_with_eta(caplog):
    caplog.set_level(logging.INFO, logger="timesformer.utils.progress")
    with Progress(total=4, desc="epoch 1/1", log_period=2, tty=False) as p:
        for _ in range(4):
            p.update(1, {"loss": 0.5})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/1 2/4 loss=0.5 eta 0:00:0")


def test_bar_on_a_terminal_and_its_lines_in_the_log_file_only(capsys, tmp_path):
    logger = setup_logging(str(tmp_path), rank=0)
    try:
        with Progress(total=3, desc="val", log_period=1, tty=True) as p:
            assert p.bar is not None
            for _ in range(3):
                p.update(1, {"top1": 1.0})
        for h in logger.handlers:
            h.flush()
    finally:
        setup_logging(None, rank=0)
    out = capsys.readouterr()
    assert "val" in out.err and "val 3/3" not in out.out  # the bar on the terminal, no duplicate lines
    log = (tmp_path / "log.txt").read_text()
    assert "val 1/3 top1=1 eta" in log and "val 3/3 top1=1 eta" in log


def test_eta_covers_the_steps_after_this_bar(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("timesformer.utils.progress.time.perf_counter", lambda: now[0])
    p = Progress(total=4, desc="epoch 1/3", tty=False, later=8)  # two more epochs of 4 steps
    p.update(2)
    now[0] += 20.0  # 10 s per step
    assert p.eta() == pytest.approx(10.0 * (2 + 8))


def test_stats_json_lines_and_log_file(tmp_path):
    logger = setup_logging(str(tmp_path), rank=0)
    logging.getLogger("timesformer.test").info("hello")
    writer = JsonLinesWriter(str(tmp_path / "stats.jsonl"))
    writer.write({"type": "train_iter", "loss": torch.tensor(0.25), "lr": float("nan")})
    writer.write({"type": "train_epoch", "loss": 0.2})
    rows = read_json_lines(str(tmp_path / "stats.jsonl"))
    # strict JSON: a number that is not finite is null, and the record names it
    assert rows == [{"type": "train_iter", "loss": 0.25, "lr": None, "non_finite": {"lr": "nan"}},
                    {"type": "train_epoch", "loss": 0.2}]
    for h in logger.handlers:
        h.flush()
    assert "hello" in (tmp_path / "log.txt").read_text()
    other = setup_logging(str(tmp_path / "rank1"), rank=1)  # other ranks: warnings only, no files
    ours = [h for h in other.handlers if getattr(h, "_timesformer_handler", False)]
    assert len(ours) == 1 and ours[0].level == logging.WARNING
    assert not (tmp_path / "rank1" / "log.txt").exists()
    setup_logging(None, rank=0)


def test_meters_and_topk():
    g = MeterGroup(window=2)
    g.add(weight=2, loss=1.0)
    g.add(weight=1, loss=4.0)
    assert g.avg()["loss"] == 2.0 and g.recent()["loss"] == 2.5
    g.reset()
    assert math.isnan(g.avg()["loss"])
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05]])
    assert topk_correct(scores, torch.tensor([1, 2]), (1, 2, 5)) == (1, 1, 2)
