"""Learning-rate policies evaluated at a fractional epoch (updated every optimizer step)."""
import math

import torch

POLICIES = ("steps_with_relative_lrs", "cosine")


def lr_steps_with_relative_lrs(cfg, epoch: float) -> float:
    """BASE_LR * LRS[i] where STEPS[i] is the last step start <= epoch."""
    s = cfg.SOLVER
    idx = max(i for i, start in enumerate(s.STEPS) if start <= epoch)
    return s.BASE_LR * s.LRS[idx]


def lr_cosine(cfg, epoch: float) -> float:
    """Half a cosine from BASE_LR at epoch 0 to COSINE_END_LR at MAX_EPOCH."""
    s = cfg.SOLVER
    frac = min(max(epoch / s.MAX_EPOCH, 0.0), 1.0)
    return s.COSINE_END_LR + (s.BASE_LR - s.COSINE_END_LR) * 0.5 * (1.0 + math.cos(math.pi * frac))


_POLICY_FN = {"steps_with_relative_lrs": lr_steps_with_relative_lrs, "cosine": lr_cosine}


def get_lr_at_epoch(cfg, epoch: float) -> float:
    """The learning rate at fractional ``epoch``: the policy, after a linear warm-up if any."""
    policy = _POLICY_FN[cfg.SOLVER.LR_POLICY]
    lr = policy(cfg, epoch)
    warm = cfg.SOLVER.WARMUP_EPOCHS
    if epoch < warm:
        end = policy(cfg, warm)
        lr = cfg.SOLVER.WARMUP_START_LR + (end - cfg.SOLVER.WARMUP_START_LR) * epoch / warm
    return lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every param group's rate to ``lr`` (times the group's ``lr_scale`` when it has one)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
