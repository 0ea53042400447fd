"""Validation of the engine's config keys (run, TRAIN, TEST, SOLVER), run by ``load_config``."""
from timesformer.config import require
from timesformer.utils import distributed as du


def check_engine_config(cfg) -> None:
    """Raise ConfigError for an engine key (solver, precision, batch, ...) that cannot work."""
    from timesformer.solver import METHODS, POLICIES

    from .evaluator import ENSEMBLE_METHODS

    s, t = cfg.SOLVER, cfg.TRAIN
    require(s.OPTIMIZING_METHOD in METHODS, "SOLVER.OPTIMIZING_METHOD", s.OPTIMIZING_METHOD,
            f"one of {METHODS}")
    require(s.LR_POLICY in POLICIES, "SOLVER.LR_POLICY", s.LR_POLICY, f"one of {POLICIES}")
    require(s.BASE_LR > 0, "SOLVER.BASE_LR", s.BASE_LR, "a positive number")
    require(s.MAX_EPOCH > 0, "SOLVER.MAX_EPOCH", s.MAX_EPOCH, "a positive integer")
    require(len(s.STEPS) == len(s.LRS) and len(s.STEPS) > 0, "SOLVER.LRS", s.LRS,
            f"one relative rate per entry of SOLVER.STEPS = {s.STEPS}")
    require(len(s.STEPS) > 0 and s.STEPS[0] == 0 and list(s.STEPS) == sorted(s.STEPS), "SOLVER.STEPS",
            s.STEPS, "increasing epochs starting with 0, e.g. [0, 11, 14]")
    require(s.WARMUP_EPOCHS >= 0, "SOLVER.WARMUP_EPOCHS", s.WARMUP_EPOCHS, "a number >= 0")
    require(0 <= s.MOMENTUM < 1, "SOLVER.MOMENTUM", s.MOMENTUM, "a number in [0, 1)")
    require(not (s.OPTIMIZING_METHOD == "sgd" and s.NESTEROV and s.MOMENTUM == 0), "SOLVER.NESTEROV",
            s.NESTEROV, f"False with SOLVER.MOMENTUM = {s.MOMENTUM} (Nesterov's method needs momentum): set "
            "SOLVER.NESTEROV False for plain SGD, or a momentum such as SOLVER.MOMENTUM 0.9")
    require(s.WEIGHT_DECAY >= 0, "SOLVER.WEIGHT_DECAY", s.WEIGHT_DECAY, "a number >= 0")
    require(len(s.BETAS) == 2 and all(0 <= b < 1 for b in s.BETAS), "SOLVER.BETAS", s.BETAS,
            "two numbers in [0, 1)")
    require(s.CLIP_GRAD_NORM >= 0, "SOLVER.CLIP_GRAD_NORM", s.CLIP_GRAD_NORM, "0 (off) or a positive norm")
    require(t.MIXED_PRECISION in ("none", "bf16", "fp16"), "TRAIN.MIXED_PRECISION", t.MIXED_PRECISION,
            "one of none, bf16, fp16")
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
    world = du.config_world_size(cfg)
    for sec in ("TRAIN", "TEST"):
        bs = cfg[sec].BATCH_SIZE
        require(bs % world == 0, f"{sec}.BATCH_SIZE", bs,
                f"a multiple of the number of processes {world} (NUM_GPUS x NUM_SHARDS); it is the total "
                "over all processes")
