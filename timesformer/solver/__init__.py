"""Optimizers and learning-rate policies."""
from .lr_policy import POLICIES, get_lr_at_epoch, set_lr
from .optimizer import METHODS, build_optimizer, param_groups

__all__ = ["POLICIES", "METHODS", "build_optimizer", "get_lr_at_epoch", "param_groups", "set_lr"]
