"""Validation of the SOLVER keys (run by the ``Trainer`` that builds the optimizer, and by
``timesformer.engine.check_config``)."""
from timesformer.config import require

from .lr_policy import POLICIES
from .optimizer import METHODS


def check_solver_config(cfg) -> None:
    """Raise ConfigError for a SOLVER key (method, policy, rates, steps, momentum, ...) that cannot work."""
    s = cfg.SOLVER
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
