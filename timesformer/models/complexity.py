"""Parameter and FLOP counts as the paper reports them.

fvcore's convention: one multiply-add counts as one FLOP. The paper's figures (divided
8x224 -> 195.8 G) count linear layers, convolutions and the attention matmuls but not LayerNorm
(the fvcore of 2021 did not count it; today's adds 0.22 G at 8x224), so LayerNorm is left out here
too, and ``scaled_dot_product_attention`` is counted as the two matmuls it replaces.
"""
import logging
import warnings
from typing import Any, Callable, List, Tuple

import torch
from torch import nn

with warnings.catch_warnings():
    # fvcore.nn scripts a helper with torch.jit.script at import, which torch now deprecates; that
    # one warning is not the user's business (fvcore is kept for the paper's FLOP convention).
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    from fvcore.nn import FlopCountAnalysis

logger = logging.getLogger(__name__)


def _sdpa_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """``scaled_dot_product_attention``: Q@K^T and weights@V, as fvcore counts two matmuls."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(i) for i in inputs[:3])
    *batch, n, d = q
    s, dv = k[-2], v[-1]
    prod = 1
    for b in batch:
        prod *= b
    return prod * n * s * (d + dv)


def _no_flops(inputs: List[Any], outputs: List[Any]) -> int:
    return 0


def count_params(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, clip: torch.Tensor) -> int:
    """FLOPs of one forward pass over ``clip`` (B, C, T, H, W), per fvcore, SDPA included."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, clip)
            analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_flops)
            analysis.set_op_handle("aten::layer_norm", _no_flops)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return int(analysis.total())
    finally:
        model.train(was_training)


def count_by_depth(make: Callable[[int], nn.Module], depth: int, clip: torch.Tensor) -> Tuple[int, int]:
    """(parameters, FLOPs of one forward pass over ``clip``) of ``make(depth)``, a model of ``depth``
    identical blocks, counted exactly on ``make(0)`` (embedding, norm, head) and ``make(1)``: each block
    adds the same, so ViT-B's 12 blocks cost the tracing of one (model_info answers in seconds)."""
    (p0, f0), (p1, f1) = ((count_params(m), count_flops(m, clip)) for m in (make(0), make(1)))
    return p0 + depth * (p1 - p0), f0 + depth * (f1 - f0)
