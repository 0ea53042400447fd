"""Optimizers with weight-decay parameter groups."""
import logging
from typing import Dict, List

import torch
from torch import nn

logger = logging.getLogger(__name__)

METHODS = ("sgd", "adamw")


def param_groups(model: nn.Module, weight_decay: float, zero_wd_1d: bool) -> List[Dict]:
    """Parameters split into a decayed group and, with ``zero_wd_1d``, an exempt group holding
    1-D tensors (norms, biases) and the names in ``model.no_weight_decay()`` (embeddings, CLS)."""
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = zero_wd_1d and (p.ndim <= 1 or name in skip)
        (no_decay if exempt else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay, "group_name": "decay"}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0, "group_name": "no_decay"})
    return [g for g in groups if g["params"]]


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov) or AdamW per SOLVER; fused kernels when every parameter is on CUDA."""
    s = cfg.SOLVER
    groups = param_groups(model, s.WEIGHT_DECAY, s.ZERO_WD_1D_PARAM)
    on_cuda = all(p.is_cuda for g in groups for p in g["params"])
    impl = {"fused": True} if on_cuda else {"foreach": True}
    if s.OPTIMIZING_METHOD == "sgd":
        opt = torch.optim.SGD(groups, lr=s.BASE_LR, momentum=s.MOMENTUM, nesterov=s.NESTEROV,
                              weight_decay=s.WEIGHT_DECAY, **impl)
    elif s.OPTIMIZING_METHOD == "adamw":
        opt = torch.optim.AdamW(groups, lr=s.BASE_LR, betas=tuple(s.BETAS), weight_decay=s.WEIGHT_DECAY,
                                **impl)
    else:
        raise ValueError(f"SOLVER.OPTIMIZING_METHOD = {s.OPTIMIZING_METHOD!r}; expected one of {METHODS}")
    sizes = {g["group_name"]: sum(p.numel() for p in g["params"]) for g in groups}
    logger.info("optimizer %s (%s), parameters per group: %s", s.OPTIMIZING_METHOD,
                "fused" if on_cuda else "foreach", sizes)
    return opt
