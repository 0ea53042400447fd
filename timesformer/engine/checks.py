"""Validation of the engine's config keys (run, TRAIN, TEST), and ``check_config``: every package's
checks at once, before anything is built (``preflight`` and the tools run it)."""
import os

from fvcore.common.config import CfgNode

from timesformer.config import require
from timesformer.data import check_data_config
from timesformer.models import check_model_config
from timesformer.solver import check_solver_config
from timesformer.utils import distributed as du
from timesformer.utils.amp import PRECISIONS

from .evaluator import ENSEMBLE_METHODS
from .writers import check_log_config


def check_engine_config(cfg) -> None:
    """Raise ConfigError for a run, TRAIN or TEST key (precision, batch, periods, processes, resume) that
    cannot work (run by ``Trainer``, with the solver's, and by ``check_config``)."""
    t = cfg.TRAIN
    require(t.MIXED_PRECISION in PRECISIONS, "TRAIN.MIXED_PRECISION", t.MIXED_PRECISION,
            "one of " + ", ".join(PRECISIONS))  # autocast's names
    require(t.BATCH_SIZE > 0, "TRAIN.BATCH_SIZE", t.BATCH_SIZE, "a positive integer")
    require(t.GLOBAL_BATCH_SIZE == 0 or (t.GLOBAL_BATCH_SIZE >= t.BATCH_SIZE
                                         and t.GLOBAL_BATCH_SIZE % t.BATCH_SIZE == 0),
            "TRAIN.GLOBAL_BATCH_SIZE", t.GLOBAL_BATCH_SIZE,
            f"0 or a multiple of TRAIN.BATCH_SIZE = {t.BATCH_SIZE}")
    for key in ("EVAL_PERIOD", "CHECKPOINT_PERIOD", "CHECKPOINT_PERIOD_ITERS"):
        require(t[key] >= 0, f"TRAIN.{key}", t[key], "0 (off) or a positive integer")
    require(cfg.TEST.ENSEMBLE_METHOD in ENSEMBLE_METHODS, "TEST.ENSEMBLE_METHOD", cfg.TEST.ENSEMBLE_METHOD,
            f"one of {ENSEMBLE_METHODS}")
    require(cfg.TEST.BATCH_SIZE > 0, "TEST.BATCH_SIZE", cfg.TEST.BATCH_SIZE, "a positive integer")
    require(cfg.NUM_GPUS >= 0, "NUM_GPUS", cfg.NUM_GPUS, "0 (CPU) or the number of processes per machine")
    require(cfg.NUM_SHARDS >= 1, "NUM_SHARDS", cfg.NUM_SHARDS, "a positive integer")
    require(0 <= cfg.SHARD_ID < cfg.NUM_SHARDS, "SHARD_ID", cfg.SHARD_ID, f"in [0, {cfg.NUM_SHARDS})")
    require(cfg.LOG_PERIOD > 0, "LOG_PERIOD", cfg.LOG_PERIOD, "a positive integer")
    check_log_config(cfg)
    world = du.config_world_size(cfg)
    for sec in ("TRAIN", "TEST"):
        bs = cfg[sec].BATCH_SIZE
        require(bs % world == 0, f"{sec}.BATCH_SIZE", bs,
                f"a multiple of the number of processes {world} (NUM_GPUS x NUM_SHARDS); it is the total "
                "over all processes")
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
    builders run them, all at once; returns ``cfg``. What ``load_config`` alone does not check."""
    check_model_config(cfg)
    check_data_config(cfg)
    check_solver_config(cfg)
    check_engine_config(cfg)
    return cfg
