"""What one process of ``tools/run_net.py`` does: train when TRAIN.ENABLE, then test when TEST.ENABLE."""
import json
import logging
import os
import tempfile
import time
from typing import Dict, Optional

import torch
from torch import nn

from timesformer.config import ConfigError
from timesformer.utils import distributed as du
from timesformer.utils.logging import setup_logging

from .trainer import Trainer, seed_all

logger = logging.getLogger(__name__)

# Datasets whose files are generated into DATA.PATH_TO_DATA_DIR instead of being read from it.
GENERATED_DATASETS = ("synthetic",)


def preflight(cfg) -> None:
    """Fail in seconds, before any process or model starts: unwritable OUTPUT_DIR, missing data."""
    out = os.path.abspath(cfg.OUTPUT_DIR)
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write_test_"):
            pass
    except OSError as e:
        raise ConfigError(f"OUTPUT_DIR = {cfg.OUTPUT_DIR!r} is not writable ({e.strerror}); pass a folder "
                          "you can write to, e.g. OUTPUT_DIR ./output") from e
    ckpt = cfg.TEST.CHECKPOINT_FILE_PATH
    if cfg.TEST.ENABLE and ckpt and not os.path.exists(ckpt):
        raise ConfigError(f"TEST.CHECKPOINT_FILE_PATH = {ckpt!r} does not exist; give a checkpoint file "
                          "(or '' to test the newest checkpoint in OUTPUT_DIR)")
    datasets = set()
    if cfg.TRAIN.ENABLE:
        datasets.add(cfg.TRAIN.DATASET)
    if cfg.TEST.ENABLE:
        datasets.add(cfg.TEST.DATASET)
    if datasets - set(GENERATED_DATASETS):
        path = cfg.DATA.PATH_TO_DATA_DIR
        if not path or not os.path.isdir(path):
            raise ConfigError(f"DATA.PATH_TO_DATA_DIR = {path!r} is not a folder; it must hold the "
                              f"annotation files of {sorted(datasets)} (see DATASET.md)")


def save_config(cfg) -> Optional[str]:
    """Write the merged config to OUTPUT_DIR/config.yaml (rank 0)."""
    if not du.is_main_process():
        return None
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    with open(path, "w") as f:
        f.write(cfg.dump())
    return path


def load_test_weights(cfg, model: nn.Module) -> str:
    """Weights for a test-only run: TEST.CHECKPOINT_FILE_PATH, else the newest checkpoint in
    OUTPUT_DIR, else TIMESFORMER.PRETRAINED_MODEL (already loaded by the model)."""
    from timesformer.checkpoint import load_pretrained
    from timesformer.checkpoint.checkpointer import Checkpointer

    path = cfg.TEST.CHECKPOINT_FILE_PATH or Checkpointer(cfg.OUTPUT_DIR, 1).find_latest()
    if path:
        load_pretrained(model, path, strict=True)  # a test never runs on half-initialised weights
        return path
    if cfg.TIMESFORMER.PRETRAINED_MODEL:
        return cfg.TIMESFORMER.PRETRAINED_MODEL
    raise ConfigError("nothing to test: TEST.CHECKPOINT_FILE_PATH is empty, OUTPUT_DIR has no checkpoint "
                      f"({cfg.OUTPUT_DIR}/checkpoints) and TIMESFORMER.PRETRAINED_MODEL is empty; set one")


def test(cfg, model: nn.Module, device: torch.device, writer=None) -> Dict[str, object]:
    """Multi-view test; writes predictions, confusion matrix, test_results.json and ``test_final``."""
    from timesformer.data import build_loader

    from .evaluator import evaluate, per_class_table, summary

    start = time.perf_counter()
    loader = build_loader(cfg, "test")
    metrics = evaluate(model, loader, device, cfg, "test", output_dir=cfg.OUTPUT_DIR)
    bad = list(getattr(loader.dataset, "bad_files", []) or [])
    record = {"type": "test_final", **summary(metrics), "ensemble": cfg.TEST.ENSEMBLE_METHOD,
              "time": time.perf_counter() - start}
    if du.is_main_process():
        if writer is not None:
            writer.write(record)
        names = getattr(loader.dataset, "class_names", None)
        result = {**record, "per_class": per_class_table(metrics, names), "bad_files": [str(b) for b in bad]}
        with open(os.path.join(cfg.OUTPUT_DIR, "test_results.json"), "w") as f:
            json.dump(result, f, indent=1, default=str)
    if bad:
        logger.warning("test: %d unreadable files were skipped: %s", len(bad), bad[:10])
    return metrics


def run(cfg, device: torch.device) -> None:
    """Train and/or test in this process (called by ``launch`` in every process)."""
    from timesformer.models import build_model

    from .hooks import StatsWriter

    setup_logging(cfg.OUTPUT_DIR)
    save_config(cfg)
    logger.info("rank %d/%d on %s", du.get_rank(), du.get_world_size(), device)
    seed_all(cfg.RNG_SEED)
    model = build_model(cfg)
    if cfg.TRAIN.ENABLE:
        trainer = Trainer(cfg, device, model)
        trainer.resume()
        trainer.train()
        model = trainer.model_for_eval()
    else:
        source = load_test_weights(cfg, model)
        logger.info("testing weights from %s", source)
        model = model.to(device)
        if cfg.TRAIN.COMPILE:
            model = torch.compile(model)
    if cfg.TEST.ENABLE:
        writer = StatsWriter(cfg.OUTPUT_DIR)
        try:
            test(cfg, model, device, writer)
        finally:
            writer.close()
