"""Stochastic depth as the reference: one keep/drop per regrouped sequence, not per clip.

The reference drops the time step's residual per patch position ``(b h w)`` and the space step's
per frame ``(b t)`` (before the CLS outputs are averaged); the MLP's per clip. Each test isolates one
residual of one block (every other residual zeroed), runs it in training mode with drop rate 0.5
and reads off, token by token, whether that residual was kept (scaled by 1/keep) or dropped (zero).
"""
from typing import Callable, Dict, Tuple

import pytest
import torch
from torch import Tensor, nn

from tests.conftest import TINY
from timesformer.models import SCHEMES
from timesformer.models.attention import Block

DIM, HEADS, RATE = TINY["embed_dim"], TINY["num_heads"], 0.5
B, T, H, W = 2, 4, 4, 4  # two clips of 4 frames on a 4x4 patch grid
# Which tokens share one keep/drop, as a key of (h, w, t); the reference's groups per step name.
GROUP_OF: Dict[str, Callable[[int, int, int], Tuple]] = {
    "time": lambda h, w, t: (h, w),  # the T tokens of one patch position
    "space": lambda h, w, t: (t,),  # one frame
    "width": lambda h, w, t: (h, t),  # one row of one frame
    "height": lambda h, w, t: (w, t),  # one column of one frame
    "local": lambda h, w, t: (h // (H // 2), w // (W // 2)),  # one 2x2 window over all frames
    "global": lambda h, w, t: (h % 2, w % 2, t % 2),  # one stride-2 sub-grid
    "joint": lambda h, w, t: (),  # the whole clip
}


def _block(scheme: str, keep: str) -> Block:
    """A block whose only non-zero residual is step ``keep`` (a step name, or 'mlp')."""
    blk = Block(DIM, HEADS, SCHEMES[scheme], drop_path=RATE)
    with torch.no_grad():
        for step in SCHEMES[scheme].steps:
            fc = getattr(blk, f"{step.prefix}_fc")
            fc.weight.copy_(torch.eye(DIM) if step.name == keep else torch.zeros(DIM, DIM))
            fc.bias.zero_()
        if keep != SCHEMES[scheme].last.name:
            blk.attn.proj.weight.zero_()
            blk.attn.proj.bias.zero_()
        if keep != "mlp":
            blk.mlp.fc2.weight.zero_()
            blk.mlp.fc2.bias.zero_()
    return blk


def _kept(blk: Block, x: Tensor, grid, tokens: slice = slice(1, None)) -> Tensor:
    """Per token of ``x[:, tokens]`` (default: the patches of (B, 1 + N*T, D)): 1 where the residual
    was kept (scaled by 1/keep), 0 where it was dropped."""
    with torch.no_grad():
        full = (blk.eval()(x, grid) - x)[:, tokens]
        torch.manual_seed(1)
        dropped = (blk.train()(x, grid) - x)[:, tokens]
    kept = dropped.abs().amax(dim=-1) > 1e-6  # (B, 1 + N*T)
    assert full.abs().amax(dim=-1).min() > 1e-3, "the isolated residual must reach every token"
    scaled = torch.where(kept[..., None], full / (1 - RATE), torch.zeros_like(full))
    torch.testing.assert_close(dropped, scaled, atol=1e-5, rtol=1e-4)  # kept x 1/keep, or exactly 0
    return kept.float()


def _check_groups(kept: Tensor, group_of: Callable) -> None:
    """``kept`` (B, N*T) over patch tokens: constant inside every group, and not one value per clip."""
    grid = kept.view(B, H, W, T)
    for b in range(B):
        values: Dict[Tuple, float] = {}
        for h in range(H):
            for w in range(W):
                for t in range(T):
                    key = group_of(h, w, t)
                    assert values.setdefault(key, float(grid[b, h, w, t])) == float(grid[b, h, w, t]), \
                        f"clip {b}: token (h={h}, w={w}, t={t}) was dropped apart from its group {key}"
    if len({group_of(0, 0, 0), group_of(H - 1, W - 1, T - 1)}) > 1:  # several groups per clip
        assert 0 < float(kept.mean()) < 1 and any(0 < float(kept[b].mean()) < 1 for b in range(B)), \
            "the whole clip shared one keep/drop: drop path ran per sample, not per group"


STEPS = [(scheme, step.name) for scheme in SCHEMES if not SCHEMES[scheme].frame_batched
         for step in (*SCHEMES[scheme].steps, SCHEMES[scheme].last)]


@pytest.mark.parametrize("scheme,step", STEPS)
def test_each_attention_step_drops_whole_groups(scheme, step):
    torch.manual_seed(0)
    x = torch.randn(B, 1 + H * W * T, DIM)
    _check_groups(_kept(_block(scheme, step), x, (T, H, W)), GROUP_OF[step])


def test_divided_cls_averages_the_frames_that_were_kept():
    """Space step: the CLS residual is the mean over frames of each frame's kept CLS output."""
    torch.manual_seed(0)
    blk, x = _block("divided_space_time", "space"), torch.randn(B, 1 + H * W * T, DIM)
    per_frame = []
    blk.attn.register_forward_hook(lambda m, i, out: per_frame.append(out[0][:, 0].detach()))
    kept = _kept(blk, x, (T, H, W))
    frame_kept = kept.view(B, H * W, T)[:, 0]  # (B, T)
    cls_per_frame = per_frame[0].view(B, T, DIM)  # the eval pass: every frame's CLS output
    with torch.no_grad():
        torch.manual_seed(1)
        got = blk.train()(x, (T, H, W))[:, 0] - x[:, 0]
    expected = (cls_per_frame * frame_kept[..., None]).mean(dim=1) / (1 - RATE)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("scheme", ["divided_space_time", "axial"])
def test_mlp_drops_whole_clips(scheme):
    torch.manual_seed(0)
    x = torch.randn(8, 1 + H * W * T, DIM)
    kept = _kept(_block(scheme, "mlp"), x, (T, H, W), slice(None))
    assert all(len(set(row.tolist())) == 1 for row in kept), "the MLP residual is kept or dropped per clip"
    assert 0 < float(kept.mean()) < 1


def test_space_only_drops_whole_frames():
    """Frames are batched: each (clip, frame) sequence is one sample, as in the reference."""
    torch.manual_seed(0)
    x = torch.randn(B * T, 1 + H * W, DIM)
    kept = _kept(_block("space_only", "space"), x, (1, H, W), slice(None))
    assert all(len(set(row.tolist())) == 1 for row in kept) and 0 < float(kept.mean()) < 1


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_eval_mode_ignores_drop_path(scheme):
    from timesformer.models import VisionTransformer

    kw = dict(TINY, attention_type=scheme)
    plain, dropping = VisionTransformer(**kw, drop_path_rate=0.0), VisionTransformer(**kw, drop_path_rate=0.5)
    for name, p in plain.named_parameters():
        if "_fc." in name or name.endswith("time_embed"):
            nn.init.normal_(p, std=0.2)
    dropping.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(dropping.eval()(x), plain.eval()(x), atol=0, rtol=0)
