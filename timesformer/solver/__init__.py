"""Optimizers and learning-rate policies."""
from .checks import check_solver_config
from .lr_policy import POLICIES, get_lr_at_epoch, set_lr
from .optimizer import METHODS, build_optimizer, param_groups

__all__ = ["POLICIES", "METHODS", "build_optimizer", "check_solver_config", "get_lr_at_epoch", "param_groups", "set_lr"]
