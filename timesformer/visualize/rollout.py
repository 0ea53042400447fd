"""Attention rollout through space and time for every attention scheme.

Rollout (Abnar & Zuidema, 2020) multiplies, block after block, each attention step's token-mixing
matrix with half the identity added for the residual path: ``M = (I + A) / 2``. The relevance of
the input tokens to the final CLS token is the CLS row of ``M_K ... M_1``. That row is computed
here right to left as a vector (``v <- v @ M``) without ever forming the
``(1 + N*T) x (1 + N*T)`` matrices, using each step's :class:`Grouping`:

- an inner step (time, local, width) mixes the patches inside each group; the CLS takes no part;
- the last step of a block (space, joint, global, height) attends over ``[CLS; group]`` for every
  group with the CLS copied in, and the CLS output is the mean over the groups;
- ``space_only`` batches the frames, one CLS per frame; the final CLS is the mean over frames.

The MLPs act token by token and are left out, as in the original method.
"""
from typing import Dict, List, Sequence

import torch
from einops import rearrange
from torch import Tensor

from timesformer.models import backbone
from timesformer.models.attention import Grid, Grouping, Scheme

HEAD_FUSIONS = ("mean", "max", "min")


def fuse_heads(weights: Tensor, fusion: str = "mean") -> Tensor:
    """(B*G, heads, L, L) attention weights -> (B*G, L, L), rows renormalised to sum to one."""
    if fusion not in HEAD_FUSIONS:
        raise ValueError(f"head fusion {fusion!r}: expected one of {HEAD_FUSIONS}")
    a = weights.mean(dim=1) if fusion == "mean" else weights.amax(dim=1) if fusion == "max" else weights.amin(dim=1)
    return a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def _inner_step(v: Tensor, a: Tensor, grouping: Grouping, grid: Grid) -> Tensor:
    """v @ (I + A) / 2 for a step mixing patches within groups. v: (B, 1 + N*T); a: (B*G, L, L)."""
    cls, p = v[:, :1], v[:, 1:]
    g = grouping.group(p[..., None], grid)[..., 0]  # (B*G, L)
    mixed = grouping.ungroup(torch.einsum("gi,gij->gj", g, a)[..., None], grid)[..., 0]  # (B, N*T)
    return torch.cat([cls, 0.5 * (p + mixed)], dim=1)


def _last_step(v: Tensor, a: Tensor, grouping: Grouping, grid: Grid) -> Tensor:
    """v @ (I + A) / 2 for the CLS-bearing step. a: (B*G, 1 + L, 1 + L), the CLS first in each group."""
    b = v.shape[0]
    cls, p = v[:, :1], v[:, 1:]
    g = grouping.group(p[..., None], grid)[..., 0]  # (B*G, L)
    groups = g.shape[0] // b
    # The CLS output is the mean of its G copies: each copy's row carries 1/G of the CLS relevance.
    cls_in = (cls / groups).repeat_interleave(groups, dim=0)  # (B*G, 1)
    out = torch.einsum("gi,gij->gj", torch.cat([cls_in, g], dim=1), a)  # (B*G, 1 + L)
    cls_out = out[:, 0].view(b, groups).sum(dim=1, keepdim=True)  # (B, 1)
    p_out = grouping.ungroup(out[:, 1:, None], grid)[..., 0]  # (B, N*T)
    return 0.5 * (v + torch.cat([cls_out, p_out], dim=1))


def rollout(maps: Sequence[Dict[str, Tensor]], scheme: Scheme, num_frames: int, grid_hw: Sequence[int],
            head_fusion: str = "mean") -> Tensor:
    """Relevance of every input patch to the final CLS token: a (B, T, H', W') map.

    ``maps`` is the per-block list of ``{step name: (B*G, heads, L, L)}`` attention weights that
    ``model(x, return_attention=True)`` returns; ``scheme`` the model's scheme (``model.model.scheme``).
    The values of one clip sum to at most one (the rest stays on the CLS token).
    """
    h, w = grid_hw
    t = num_frames
    grid = (1, h, w) if scheme.frame_batched else (t, h, w)
    first = maps[0][scheme.last.name]
    batch = first.shape[0] // scheme.last.grouping.shape(grid)[0]  # B (B*T for space_only)
    v = torch.zeros(batch, 1 + h * w * grid[0], dtype=torch.float64, device=first.device)
    v[:, 0] = 1.0
    for block in reversed(maps):
        missing = [s.name for s in (*scheme.steps, scheme.last) if s.name not in block]
        if missing:
            raise ValueError(f"attention maps of scheme {scheme.name} lack the steps {missing}; "
                             "pass the maps from model(x, return_attention=True) of the same model")
        v = _last_step(v, fuse_heads(block[scheme.last.name].double(), head_fusion),
                       scheme.last.grouping, grid)
        for step in reversed(scheme.steps):
            v = _inner_step(v, fuse_heads(block[step.name].double(), head_fusion), step.grouping, grid)
    patches = v[:, 1:]  # index n*T' + t with n = h*W' + w
    if scheme.frame_batched:  # (B*T, N): frames batched, the final CLS averages the frames
        return (rearrange(patches, "(b t) (h w) -> b t h w", t=t, h=h) / t).float()
    return rearrange(patches, "b (h w t) -> b t h w", h=h, w=w).float()  # (B, T, H', W')


def attention_rollout(model, clip: Tensor, head_fusion: str = "mean") -> Dict[str, Tensor]:
    """Run ``model`` (a TimeSformer) on ``clip`` (B, C, T, H, W) and return its logits ``(B, K)``,
    the rollout map ``(B, T, H', W')`` and the per-frame relevance ``(B, T)``."""
    vit = backbone(model)
    b, t, h, w = vit.check_input(clip)
    with torch.no_grad():
        logits, maps = model(clip, return_attention=True)
    relevance = rollout(maps, vit.scheme, t, (h, w), head_fusion)
    return {"logits": logits, "rollout": relevance, "per_frame": relevance.sum(dim=(2, 3))}


def normalize_maps(maps: Tensor) -> Tensor:
    """Scale each clip's map (B, T, H', W') to [0, 1] jointly over frames, so time shows too."""
    flat = maps.flatten(1)
    lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    scale = (hi - lo).clamp_min(1e-12)
    return (maps - lo.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)


__all__: List[str] = ["HEAD_FUSIONS", "attention_rollout", "fuse_heads", "normalize_maps", "rollout"]
