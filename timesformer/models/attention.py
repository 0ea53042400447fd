"""The five space-time attention schemes behind one block interface.

Tokens enter and leave every block as ``(B, 1 + N*T, D)``: the CLS token first, then the patch
tokens patch-major, time-minor (index ``1 + n*T + t`` with ``n = h*W' + w``), as in the reference
code. ``space_only`` is the exception: its frames are batched, ``(B*T, 1 + N, D)``, one CLS each.

A scheme is a list of *steps*. Every step but the last regroups the patch tokens into sequences
(a :class:`Grouping`), attends within each sequence with its own ``<prefix>_norm1``,
``<prefix>_attn`` and a zero-initialised ``<prefix>_fc``, and adds the result back
(``x_p + fc(drop_path(attn(norm(x_p))))``). The last step uses the ViT's own ``norm1``/``attn``:
the block's input CLS is copied into every group, prepended, and its outputs are averaged over the
groups. Then the usual MLP.

Initialised from an image ViT (every ``*_fc`` and ``time_embed`` zero, new steps copied from the
ViT's ``attn``), only ``space_only`` and ``divided_space_time`` compute exactly that ViT on a still
clip (every frame the same image): divided's time step adds zero, and the last step of both is the
ViT's attention over one frame. The other three differ even then: ``joint_space_time`` attends over T
copies of every patch but one CLS (the CLS's share shrinks as if its score were lowered by ln T);
``sparse_local_global``'s last step sees only a stride-2 quarter of the patch positions, and
``axial``'s one column. On the tiny test model (``tests/test_models.py``, still-clip test) the final
CLS feature, whose entries reach 2.3, moves by up to 0.068 (joint), 0.084 (local-global) and 0.23
(axial).

Stochastic depth follows the reference: an attention step's residual is dropped per group of the
regrouped tensor, before it is ungrouped (divided: per patch position in the time step, per frame
in the space step, whose CLS outputs are averaged after the drop); the MLP's per clip.

Attention runs through ``torch.nn.functional.scaled_dot_product_attention`` (flash, memory-efficient
or math kernel, whatever the device offers); ``need_weights=True`` computes the same thing with an
explicit softmax and returns the weights (for attention maps, and as the reference in tests).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import Tensor, nn

Grid = Tuple[int, int, int]  # (T, H', W'): frames and patch rows/columns of the token grid


@dataclass(frozen=True)
class Grouping:
    """How patch tokens ``(B, H'*W'*T, D)`` are cut into attention sequences ``(B*G, L, D)``.

    ``tokens`` names the factors of the token axis in memory order (``h w t``, with ``h2``-style
    factors for axes split in two); ``groups`` names the factors that index the G groups, the rest
    (in token order) run along each sequence. A stride-2 split writes ``h h2`` (h2 fastest), a
    split into two halves ``h2 h``.
    """

    tokens: Tuple[str, ...]
    groups: Tuple[str, ...]

    def _sizes(self, grid: Grid) -> Dict[str, int]:
        t, h, w = grid
        sizes = dict(t=t, h=h, w=w)
        for axis in ("t", "h", "w"):
            if f"{axis}2" in self.tokens:  # axis split in two: factor 2 and the rest
                sizes[axis], sizes[f"{axis}2"] = sizes[axis] // 2, 2
        return sizes

    def _order(self) -> Tuple[int, ...]:
        seq = [f for f in self.tokens if f not in self.groups]
        return tuple([self.tokens.index(f) + 1 for f in (*self.groups, *seq)])

    def group(self, p: Tensor, grid: Grid) -> Tensor:
        """(B, N*T, D) -> (B*G, L, D)."""
        sizes = self._sizes(grid)
        b, d = p.shape[0], p.shape[-1]
        x = p.reshape(b, *[sizes[f] for f in self.tokens], d).permute(0, *self._order(), len(self.tokens) + 1)
        groups = math.prod([sizes[f] for f in self.groups])
        return x.reshape(b * groups, -1, d)

    def ungroup(self, g: Tensor, grid: Grid) -> Tensor:
        """(B*G, L, D) -> (B, N*T, D)."""
        sizes = self._sizes(grid)
        order = self._order()
        groups = math.prod([sizes[f] for f in self.groups])
        permuted = [sizes[self.tokens[i - 1]] for i in order]
        x = g.reshape(g.shape[0] // groups, *permuted, g.shape[-1])
        inverse = sorted(range(len(order)), key=lambda i: order[i])
        return x.permute(0, *[i + 1 for i in inverse], len(order) + 1).reshape(x.shape[0], -1, g.shape[-1])

    def shape(self, grid: Grid) -> Tuple[int, int]:
        """(groups per clip, tokens per group) for a grid."""
        sizes = self._sizes(grid)
        groups = math.prod([sizes[f] for f in self.groups])
        return groups, math.prod(sizes.values()) // groups


HWT = ("h", "w", "t")
ALL = Grouping(HWT, ())  # every patch of the clip in one sequence
TIME = Grouping(HWT, ("h", "w"))  # the T tokens of one patch position
FRAME = Grouping(HWT, ("t",))  # the N patches of one frame
ROW = Grouping(HWT, ("h", "t"))  # the W' patches of one row in one frame
COLUMN = Grouping(HWT, ("w", "t"))  # the H' patches of one column in one frame
# Non-overlapping 2x2 split of the patch grid, each window spanning all frames.
WINDOW = Grouping(("h2", "h", "w2", "w", "t"), ("h2", "w2"))
# Stride-2 sub-grids in t, h and w: 8 groups of T/2 * H'/2 * W'/2 tokens.
STRIDED = Grouping(("h", "h2", "w", "w2", "t", "t2"), ("h2", "w2", "t2"))


@dataclass(frozen=True)
class Step:
    """One attention step: a name (also its weights' key prefix, '' = ViT's own) and a grouping."""

    name: str
    prefix: str
    grouping: Grouping


@dataclass(frozen=True)
class Scheme:
    """A space-time attention scheme: extra steps, the final CLS-bearing step, and its constraints."""

    name: str
    steps: Tuple[Step, ...]
    last: Step
    frame_batched: bool = False  # space_only: frames batched, one CLS per frame, no time_embed
    even_grid: bool = False  # local-global needs T, H', W' even

    @property
    def has_time_embed(self) -> bool:
        return not self.frame_batched

    def check_grid(self, t: int, h: int, w: int) -> None:
        """Raise ValueError when this scheme cannot take a clip of T frames and an H'xW' patch grid."""
        if min(t, h, w) < 1:
            raise ValueError(f"{self.name} needs at least one frame and one patch, got T={t}, grid {h}x{w}")
        if self.even_grid and (t % 2 or h % 2 or w % 2):
            raise ValueError(
                f"{self.name} splits time and the patch grid in halves, so frames T and the patch grid "
                f"H'xW' must all be even; got T={t}, grid {h}x{w}. Use an even frame count and a crop "
                "that is an even multiple of the patch size (e.g. 224 = 14 x 16).")

    def keys_per_query(self, grid: Grid) -> List[int]:
        """Keys each query attends over, per step (the last step includes the CLS)."""
        t, h, w = grid
        grid = (1, h, w) if self.frame_batched else grid
        keys = [s.grouping.shape(grid)[1] for s in self.steps]
        return keys + [self.last.grouping.shape(grid)[1] + 1]


SCHEMES: Dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme("space_only", (), Step("space", "", ALL), frame_batched=True),
        Scheme("joint_space_time", (), Step("joint", "", ALL)),
        Scheme("divided_space_time", (Step("time", "temporal", TIME),), Step("space", "", FRAME)),
        Scheme("sparse_local_global", (Step("local", "local", WINDOW),), Step("global", "", STRIDED),
               even_grid=True),
        Scheme("axial", (Step("time", "temporal", TIME), Step("width", "width", ROW)),
               Step("height", "", COLUMN)),
    )
}


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name``, or a ValueError listing the valid names."""
    if name not in SCHEMES:
        raise ValueError(f"unknown attention_type {name!r}; expected one of {list(SCHEMES)}")
    return SCHEMES[name]


class Attention(nn.Module):
    """Multi-head self-attention over ``(batch, length, dim)`` (keys ``qkv`` and ``proj``)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} must be a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, need_weights: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        drop = self.attn_drop if self.training else 0.0
        weights = None
        if need_weights:  # explicit softmax: same result as SDPA, and the weights come out
            weights = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (b, heads, n, n)
            weights = weights.softmax(dim=-1)
            out = F.dropout(weights, drop, self.training) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (b, heads, n, d/heads)
        return self.proj(out.transpose(1, 2).reshape(b, n, d)), weights


class Block(nn.Module):
    """A pre-norm transformer block whose attention follows ``scheme``'s steps, then an MLP."""

    def __init__(self, dim: int, num_heads: int, scheme: Scheme, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path: float = 0.0, attn_drop: float = 0.0,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.scheme = scheme
        for step in scheme.steps:
            self.add_module(f"{step.prefix}_norm1", nn.LayerNorm(dim, eps=norm_eps))
            self.add_module(f"{step.prefix}_attn", Attention(dim, num_heads, qkv_bias, attn_drop))
            self.add_module(f"{step.prefix}_fc", nn.Linear(dim, dim))
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, x: Tensor, grid: Grid,
                weights: Optional[Dict[str, Tensor]] = None) -> Tensor:
        """x: (B, 1 + N*T, D) -> (B, 1 + N*T, D). ``weights``, when a dict, collects each step's
        attention weights ``(B*G, heads, L, L)`` under the step's name."""
        need = weights is not None
        cls, p = x[:, :1], x[:, 1:]  # (B, 1, D), (B, N*T, D)
        for step in self.scheme.steps:
            g = step.grouping.group(getattr(self, f"{step.prefix}_norm1")(p), grid)
            res, w = getattr(self, f"{step.prefix}_attn")(g, need)  # (B*G, L, D)
            res = self.drop_path(res)  # one keep/drop per group, as the reference
            p = p + getattr(self, f"{step.prefix}_fc")(step.grouping.ungroup(res, grid))
            if need:
                weights[step.name] = w
        last = self.scheme.last.grouping
        g = last.group(p, grid)  # (B*G, L, D)
        b, groups = x.shape[0], g.shape[0] // x.shape[0]
        seq = torch.cat([cls.expand(b, groups, -1).reshape(b * groups, 1, -1), g], dim=1)
        res, w = self.attn(self.norm1(seq), need)  # (B*G, 1 + L, D)
        if need:
            weights[self.scheme.last.name] = w
        res = self.drop_path(res)  # per group, before the CLS outputs are averaged
        res_cls = res[:, 0].view(b, groups, -1).mean(dim=1, keepdim=True)  # CLS averaged over groups
        x = torch.cat([cls, p], dim=1) + torch.cat([res_cls, last.ungroup(res[:, 1:], grid)], dim=1)
        return x + self.drop_path(self.mlp(self.norm2(x)))  # per clip
