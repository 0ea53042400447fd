"""What one process of ``tools/run_net.py`` does: train when TRAIN.ENABLE, then test when TEST.ENABLE."""
import dataclasses
import json
import logging
import math
import os
import pickle
import tempfile
import zipfile
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from timesformer.config import ConfigError
from timesformer.utils import distributed as du
from timesformer.utils.compile import compile_model
from timesformer.utils.logging import setup_logging

from .checks import check_config
from .launch import USER_ERRORS
from .trainer import Trainer, seed_all

logger = logging.getLogger(__name__)

# Datasets whose files are generated into DATA.PATH_TO_DATA_DIR instead of being read from it.
GENERATED_DATASETS = ("synthetic",)


def preflight(cfg) -> None:
    """Fail in seconds, before any process or model starts (as detectron2's ``default_setup``): every
    package's config checks (``check_config``), an unwritable OUTPUT_DIR, a missing weights file,
    missing data or DATA.PATH_PREFIX, nothing to test."""
    check_config(cfg)
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
    if cfg.TRAIN.ENABLE and not resumes_full_state(cfg):
        _check_weights_path(cfg, "TIMESFORMER.PRETRAINED_MODEL")
        _check_weights_path(cfg, "TRAIN.CHECKPOINT_FILE_PATH")
    if cfg.TEST.ENABLE and not cfg.TRAIN.ENABLE and test_weights(cfg)[0] == "TIMESFORMER.PRETRAINED_MODEL":
        _check_weights_path(cfg, "TIMESFORMER.PRETRAINED_MODEL")
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
        prefix = cfg.DATA.PATH_PREFIX
        if prefix and not os.path.isdir(prefix):
            raise ConfigError(f"DATA.PATH_PREFIX = {prefix!r} is not a folder; set it to the folder the "
                              "annotation files' video paths are relative to ('' if they are absolute)")


def _check_weights_path(cfg, key: str) -> None:
    """A weights key naming a local file (by its suffix or a path prefix) that is not there: ConfigError."""
    from timesformer.checkpoint.hub import looks_like_path

    section, name = key.split(".")
    value = cfg[section][name]
    if value and looks_like_path(value) and not os.path.exists(os.path.expanduser(value)):
        where = "" if os.path.isabs(os.path.expanduser(value)) else f" (relative to {os.getcwd()})"
        raise ConfigError(f"{key} = {value!r}: no such file{where}; check the path (MODEL_ZOO.md says where "
                          "to get the released weights), or set it to ''")


def save_config(cfg) -> Optional[str]:
    """Write the merged config to OUTPUT_DIR/config.yaml (rank 0)."""
    if not du.is_main_process():
        return None
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    with open(path, "w") as f:
        f.write(cfg.dump())
    return path


def test_weights(cfg) -> Tuple[str, str]:
    """What a test-only run evaluates, as (config key, source): TEST.CHECKPOINT_FILE_PATH, else the
    newest checkpoint in OUTPUT_DIR, else TIMESFORMER.PRETRAINED_MODEL."""
    from timesformer.checkpoint.checkpointer import Checkpointer

    if cfg.TEST.CHECKPOINT_FILE_PATH:
        return "TEST.CHECKPOINT_FILE_PATH", cfg.TEST.CHECKPOINT_FILE_PATH
    checkpointer = Checkpointer(cfg.OUTPUT_DIR, 1)
    latest = checkpointer.find_latest()
    if latest:
        return "OUTPUT_DIR", latest
    if cfg.TIMESFORMER.PRETRAINED_MODEL:
        return "TIMESFORMER.PRETRAINED_MODEL", cfg.TIMESFORMER.PRETRAINED_MODEL
    found = (f"OUTPUT_DIR's checkpoints cannot be used ({checkpointer.describe_skipped()})" if checkpointer.skipped
             else f"OUTPUT_DIR has no checkpoint ({checkpointer.dir})")
    raise ConfigError(f"nothing to test: TEST.CHECKPOINT_FILE_PATH is empty, {found} and "
                      "TIMESFORMER.PRETRAINED_MODEL is empty; set one")


def trained_iterations(source: str) -> int:
    """The training iterations behind a test-only run's weights (the step its results are logged
    at): a training checkpoint's ``iteration``, 0 for other weights."""
    if not os.path.isfile(source) or not zipfile.is_zipfile(source):
        return 0  # a hub name, a folder, a legacy or non-torch file: no training iteration recorded
    try:
        state = torch.load(source, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, pickle.UnpicklingError):  # not ours; loading the weights reports problems
        return 0
    return int(state.get("iteration", 0)) if isinstance(state, dict) else 0


def resumes_full_state(cfg) -> bool:
    """Training continues from a full checkpoint (auto-resume or TRAIN.CHECKPOINT_FILE_PATH without
    TRAIN.FINETUNE), which overwrites every weight, as ``resume_or_load`` decides."""
    from timesformer.checkpoint.checkpointer import Checkpointer

    if cfg.TRAIN.AUTO_RESUME and Checkpointer(cfg.OUTPUT_DIR, 1).find_latest():
        return True
    return bool(cfg.TRAIN.CHECKPOINT_FILE_PATH) and not cfg.TRAIN.FINETUNE


def starting_weights(cfg) -> Tuple[str, bool]:
    """The weights this run's model starts from ('' = random init) and whether they are the run's own
    checkpoint to resume: the tested weights in a test-only run; else the newest checkpoint in
    OUTPUT_DIR (with TRAIN.AUTO_RESUME), TRAIN.CHECKPOINT_FILE_PATH or TIMESFORMER.PRETRAINED_MODEL."""
    from timesformer.checkpoint.checkpointer import Checkpointer

    if not cfg.TRAIN.ENABLE:
        return (test_weights(cfg)[1] if cfg.TEST.ENABLE else ""), False
    latest = Checkpointer(cfg.OUTPUT_DIR, 1).find_latest() if cfg.TRAIN.AUTO_RESUME else None
    return (latest, True) if latest else (cfg.TRAIN.CHECKPOINT_FILE_PATH or cfg.TIMESFORMER.PRETRAINED_MODEL, False)


def settle_channel_order(cfg, stated: bool):
    """``cfg`` with DATA.INPUT_CHANNEL_ORDER set to what the run's starting weights were trained on
    (BGR for a released SSv2 checkpoint), unless the user ``stated`` it; a timm name or an image ViT
    states nothing and keeps the config's order (RGB by default)."""
    from timesformer.checkpoint import read_source
    from timesformer.checkpoint.channels import apply_channel_order
    from timesformer.checkpoint.hub import FetchError, is_timm_name

    source, resuming = starting_weights(cfg)
    if not source or is_timm_name(source):
        return cfg
    try:
        w = read_source(source)
    except ValueError as e:
        # A damaged file: loading it in the run stops with the reason (a resume falls back to an
        # older checkpoint and says so); until then the order is the config's.
        logger.warning("could not read %s to learn its input channel order: %s", source, e)
        return cfg
    except (FileNotFoundError, FetchError) as e:
        if resuming:
            logger.warning("could not read %s to learn its input channel order: %s", source, e)
            return cfg
        raise ConfigError(f"cannot read the weights {source}: {e}") from e
    return apply_channel_order(cfg, w.channel_order, w.channel_order_note, w.source, stated)


def build_run_model(cfg) -> nn.Module:
    """The model of this run: TIMESFORMER.PRETRAINED_MODEL is loaded only when nothing overwrites it;
    a test-only run loads its weights strictly (a head of another class count is an error)."""
    from timesformer.checkpoint.sources import source_error
    from timesformer.errors import LOAD_ERRORS
    from timesformer.models import TimeSformer, build_model, load_pretrained, model_kwargs_from_cfg

    if cfg.TRAIN.ENABLE:
        if resumes_full_state(cfg):
            return TimeSformer(**model_kwargs_from_cfg(cfg))
        try:
            return build_model(cfg)
        except LOAD_ERRORS as e:
            raise source_error("TIMESFORMER.PRETRAINED_MODEL", cfg.TIMESFORMER.PRETRAINED_MODEL, e) from e
    model = TimeSformer(**model_kwargs_from_cfg(cfg))  # random; every weight comes from the source
    if cfg.TEST.ENABLE:
        key, source = test_weights(cfg)
        logger.info("testing weights from %s (%s)", source, key)
        try:
            load_pretrained(model, source, strict=True)  # a test never runs on half-initialised weights
        except LOAD_ERRORS as e:
            raise ConfigError(f"cannot test {source} ({key}): {e}") from e
    return model


def check_finite_result(metrics: Dict[str, object], source: str, precision: str) -> None:
    """A test whose scores or loss are not finite is an error naming ``source``, never a result."""
    bad, loss = int(metrics.get("non_finite_videos", 0)), float(metrics["loss"])
    if bad or not math.isfinite(loss):
        amp = f" or the model overflows in TRAIN.MIXED_PRECISION {precision}" if precision != "none" else ""
        raise FloatingPointError(
            f"testing {source}: non-finite scores for {bad} of {metrics['num_videos']} videos, loss {loss}; "
            f"its weights hold NaN or inf (a damaged file, a run that diverged){amp}. No result was written: "
            "test another checkpoint" + (" or with TRAIN.MIXED_PRECISION none" if amp else ""))


def test(cfg, model: nn.Module, device: torch.device, writer=None, source: str = "the model",
         iteration: int = 0) -> Dict[str, object]:
    """Multi-view test of ``source`` (named in errors); writes predictions, confusion matrix,
    test_results.json and ``test_final`` (at ``iteration``: the training iterations behind the
    weights); non-finite scores or loss are an error instead."""
    from timesformer.data import build_loader

    from .evaluator import evaluate, per_class_table, summary
    from .hooks import describe_bad_files, gather_bad_files

    loader = build_loader(cfg, "test")
    metrics = evaluate(model, loader, device, cfg, "test", output_dir=cfg.OUTPUT_DIR)
    check_finite_result(metrics, source, cfg.TRAIN.MIXED_PRECISION)
    bad = gather_bad_files(loader.dataset)  # every rank's
    record = {"type": "test_final", "iter": iteration, **summary(metrics),
              "ensemble": cfg.TEST.ENSEMBLE_METHOD}
    if du.is_main_process():
        if writer is not None:
            writer.write(record)
        names = getattr(loader.dataset, "class_names", None)
        result = {**record, "per_class": per_class_table(metrics, names),
                  "bad_files": [dataclasses.asdict(b) for b in bad]}
        with open(os.path.join(cfg.OUTPUT_DIR, "test_results.json"), "w") as f:
            json.dump(result, f, indent=1, default=str)
        if bad:  # "skipped": unreadable, its views left out; "truncated": its decodable frames used
            logger.warning("test: %d bad files: %s", len(bad), describe_bad_files(bad))
    return metrics


def run(cfg, device: torch.device) -> None:
    """Train and/or test in this process (called by ``launch`` in every process); an explained error
    (``USER_ERRORS``) is also written to log.txt before it propagates."""
    setup_logging(cfg.OUTPUT_DIR)
    try:
        _train_and_test(cfg, device)
    except USER_ERRORS as e:
        if du.is_main_process():
            logger.error("%s", e)
        raise


def _train_and_test(cfg, device: torch.device) -> None:
    from .hooks import TEST_RECORDS, StatsWriter

    save_config(cfg)
    logger.info("rank %d/%d on %s", du.get_rank(), du.get_world_size(), device)
    seed_all(cfg.RNG_SEED)
    model = build_run_model(cfg)
    iteration = 0
    if cfg.TRAIN.ENABLE:
        trainer = Trainer(cfg, device, model)
        trainer.resume()
        trainer.train()
        model, iteration = trainer.model_for_eval(), trainer.iter
        source = trainer.checkpointer.find_latest() or cfg.OUTPUT_DIR  # the last save holds these weights
    else:
        source = test_weights(cfg)[1] if cfg.TEST.ENABLE else ""
        model = model.to(device)
        if cfg.TRAIN.COMPILE:
            model = compile_model(model)
        if cfg.TEST.ENABLE:
            iteration = trained_iterations(source)
    if cfg.TEST.ENABLE:
        # a test at iteration N supersedes the test results logged at N or later (a re-test)
        writer = StatsWriter(cfg.OUTPUT_DIR, purge_step=iteration, kinds=TEST_RECORDS,
                             tensorboard=os.path.join("tensorboard", "test"))
        try:
            test(cfg, model, device, writer, source, iteration)
        finally:
            writer.close()
