"""Validation of the engine's config keys (run, TRAIN, TEST), and ``check_config``: every package's
checks at once, before anything is built (``preflight`` and the tools run it)."""
import functools
import os

from fvcore.common.config import CfgNode

from timesformer.config import check_each, require
from timesformer.data import check_data_config
from timesformer.models import check_model_config
from timesformer.solver import check_solver_config
from timesformer.utils.amp import PRECISIONS

from .evaluator import ENSEMBLE_METHODS
from .writers import check_log_config


def check_engine_config(cfg) -> None:
    """Raise ConfigError for a run, TRAIN or TEST key (precision, periods, processes, resume) that cannot
    work (run by ``Trainer``, with the solver's, and by ``check_config``; the batch keys are the data
    package's, ``data.build.check_batch_config``)."""
    t = cfg.TRAIN
    require(t.MIXED_PRECISION in PRECISIONS, "TRAIN.MIXED_PRECISION", t.MIXED_PRECISION,
            "one of " + ", ".join(PRECISIONS))  # autocast's names
    for key in ("EVAL_PERIOD", "CHECKPOINT_PERIOD", "CHECKPOINT_PERIOD_ITERS"):
        require(t[key] >= 0, f"TRAIN.{key}", t[key], "0 (off) or a positive integer")
    require(cfg.TEST.ENSEMBLE_METHOD in ENSEMBLE_METHODS, "TEST.ENSEMBLE_METHOD", cfg.TEST.ENSEMBLE_METHOD,
            f"one of {ENSEMBLE_METHODS}")
    require(cfg.NUM_GPUS >= 0, "NUM_GPUS", cfg.NUM_GPUS, "0 (CPU) or the number of processes per machine")
    require(cfg.NUM_SHARDS >= 1, "NUM_SHARDS", cfg.NUM_SHARDS, "a positive integer")
    require(0 <= cfg.SHARD_ID < cfg.NUM_SHARDS, "SHARD_ID", cfg.SHARD_ID, f"in [0, {cfg.NUM_SHARDS})")
    require(cfg.LOG_PERIOD > 0, "LOG_PERIOD", cfg.LOG_PERIOD, "a positive integer")
    check_log_config(cfg)
    check_resume_config(cfg)


def check_resume_config(cfg) -> None:
    """KEEP_LAST >= 0; a resumed CHECKPOINT_FILE_PATH exists; FINETUNE needs CHECKPOINT_FILE_PATH."""
    t = cfg.TRAIN
    require(t.CHECKPOINT_KEEP_LAST >= 0, "TRAIN.CHECKPOINT_KEEP_LAST", t.CHECKPOINT_KEEP_LAST,
            "a count >= 0 (0 keeps every checkpoint)")
    require(not t.CHECKPOINT_FILE_PATH or t.FINETUNE or os.path.exists(t.CHECKPOINT_FILE_PATH),
            "TRAIN.CHECKPOINT_FILE_PATH", t.CHECKPOINT_FILE_PATH,
            "an existing training checkpoint, or '' for none (with TRAIN.FINETUNE True also a hub id)")
    require(not t.FINETUNE or bool(t.CHECKPOINT_FILE_PATH), "TRAIN.FINETUNE", t.FINETUNE,
            "False unless TRAIN.CHECKPOINT_FILE_PATH names the weights to fine-tune from "
            "(for an ImageNet ViT use TIMESFORMER.PRETRAINED_MODEL)")


def check_config(cfg: CfgNode) -> CfgNode:
    """Every package's checks of a merged config (model, data, solver, engine and resume), as the
    builders run them, all at once: one ConfigError lists every problem. Returns ``cfg``. What
    ``load_config`` alone does not check."""
    check_each(*(functools.partial(check, cfg) for check in (check_model_config, check_data_config,
                                                             check_solver_config, check_engine_config)))
    return cfg
