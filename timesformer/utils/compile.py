"""``torch.compile`` as every caller here uses it: with the inductor settings this model needs."""
from typing import Optional

import torch
from torch import nn


def apply_inductor_workarounds() -> None:
    """torch 2.11 inductor asserts in ``tiling_utils._solve_simple_expr`` on this model."""
    try:
        import torch._inductor.config as inductor_config
    except ImportError:  # a torch without inductor: nothing to work around
        return
    if hasattr(inductor_config.triton, "coalesce_tiling_analysis"):
        inductor_config.triton.coalesce_tiling_analysis = False


def compile_model(model: nn.Module, mode: Optional[str] = None) -> nn.Module:
    """``torch.compile(model, mode=mode)`` after :func:`apply_inductor_workarounds`."""
    apply_inductor_workarounds()
    return torch.compile(model, mode=mode)
