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
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import Tensor, nn

Grid = Tuple[int, int, int]  # (T, H', W'): frames and patch rows/columns of the token grid


def _parse_grouping(pattern: str) -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """(token factors in memory order, group factors, sequence factors) of a grouping pattern, or a ValueError."""
    left, arrow, right = pattern.partition("->")
    src, dst = ([(inner or bare).split() for inner, bare in re.findall(r"\(([^)]*)\)|(\S+)", side)]
                for side in (left, right))  # '(b h) t d' -> [[b, h], [t], [d]]
    ok = bool(arrow) and len(src) == len(dst) == 3 and src[0] == ["b"] and src[2] == dst[2] == ["d"]
    tokens = src[1] if ok else []
    ok = ok and dst[0][:1] == ["b"] and sorted(tokens) == sorted(dst[0][1:] + dst[1]) == sorted(set(tokens))
    if not ok or not {"t", "h", "w"} <= set(tokens) <= {"t", "h", "w", "t2", "h2", "w2"}:
        raise ValueError(f"grouping pattern {pattern!r}: expected 'b (<factors>) d -> (b <group factors>) "
                         "<sequence factors> d' with each of h, w, t once (and h2, w2, t2 for an axis split "
                         "in two) on both sides, e.g. 'b (h w t) d -> (b h w) t d'")
    return tuple(tokens), tuple(dst[0][1:]), tuple(dst[1])


@dataclass(frozen=True)
class Grouping:
    """How patch tokens ``(B, H'*W'*T, D)`` are cut into attention sequences ``(B*G, L, D)``: an einops pattern.

    The left side names the factors of the token axis in memory order (``b (h w t) d``). An axis split
    in two gets a factor ``h2`` of size 2: ``h h2`` (h2 fastest) is a stride-2 split, ``h2 h`` a split
    into halves. The right side is ``(b <factors indexing the G groups>) <factors along a sequence> d``.

    The pattern is the only description: the permutation that ``group``/``ungroup`` run is read from it
    once, here, and ``tests/test_models.py`` checks it against ``einops.rearrange`` of the same pattern.
    (Calling ``einops.rearrange`` per step runs the same reshape/permute/reshape but spends a few
    microseconds more per call in Python: +1-5% eager time on the tiny test model.)
    """

    pattern: str
    tokens: Tuple[str, ...] = field(init=False, repr=False, compare=False)  # factors of the token axis, in memory
    groups: Tuple[str, ...] = field(init=False, repr=False, compare=False)  # factors indexing the G groups
    seq: Tuple[str, ...] = field(init=False, repr=False, compare=False)  # factors along a sequence
    perm: Optional[Tuple[int, ...]] = field(init=False, repr=False, compare=False)  # (B, *tokens, D) -> grouped
    inverse_perm: Optional[Tuple[int, ...]] = field(init=False, repr=False, compare=False)  # grouped -> tokens

    def __post_init__(self) -> None:
        tokens, groups, seq = _parse_grouping(self.pattern)
        perm = (0, *[tokens.index(f) + 1 for f in groups + seq], len(tokens) + 1)
        in_order = perm == tuple(range(len(perm)))  # nothing to permute (ALL, TIME)
        inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "perm", None if in_order else perm)
        object.__setattr__(self, "inverse_perm", None if in_order else inverse)

    def sizes(self, grid: Grid) -> Dict[str, int]:
        """The size of every factor for a (T, H', W') grid; a split axis has a factor 2 and the rest."""
        t, h, w = grid
        sizes = dict(t=t, h=h, w=w)
        for axis in ("t", "h", "w"):
            if f"{axis}2" in self.tokens:
                sizes[axis], sizes[f"{axis}2"] = sizes[axis] // 2, 2
        return sizes

    def group(self, p: Tensor, grid: Grid) -> Tensor:
        """(B, N*T, D) -> (B*G, L, D), the pattern read left to right."""
        sizes = self.sizes(grid)
        b, d = p.shape[0], p.shape[-1]
        x = p.reshape(b, *[sizes[f] for f in self.tokens], d)  # (B, *tokens, D)
        x = x if self.perm is None else x.permute(self.perm)  # (B, *groups, *seq, D)
        groups = math.prod([sizes[f] for f in self.groups])  # of a list: prod of a generator breaks dynamo's graph
        return x.reshape(b * groups, -1, d)

    def ungroup(self, g: Tensor, grid: Grid) -> Tensor:
        """(B*G, L, D) -> (B, N*T, D), the pattern read right to left."""
        sizes = self.sizes(grid)
        x = g.reshape(-1, *[sizes[f] for f in self.groups + self.seq], g.shape[-1])  # (B, *groups, *seq, D)
        x = x if self.inverse_perm is None else x.permute(self.inverse_perm)  # (B, *tokens, D)
        return x.reshape(x.shape[0], -1, g.shape[-1])

    def shape(self, grid: Grid) -> Tuple[int, int]:
        """(groups per clip, tokens per group) for a grid."""
        sizes = self.sizes(grid)
        return math.prod([sizes[f] for f in self.groups]), math.prod([sizes[f] for f in self.seq])


ALL = Grouping("b (h w t) d -> b (h w t) d")  # every patch of the clip in one sequence
TIME = Grouping("b (h w t) d -> (b h w) t d")  # the T tokens of one patch position
FRAME = Grouping("b (h w t) d -> (b t) (h w) d")  # the N patches of one frame
ROW = Grouping("b (h w t) d -> (b h t) w d")  # the W' patches of one row in one frame
COLUMN = Grouping("b (h w t) d -> (b w t) h d")  # the H' patches of one column in one frame
# Non-overlapping 2x2 split of the patch grid, each window spanning all frames.
WINDOW = Grouping("b (h2 h w2 w t) d -> (b h2 w2) (h w t) d")
# Stride-2 sub-grids in t, h and w: 8 groups of T/2 * H'/2 * W'/2 tokens.
STRIDED = Grouping("b (h h2 w w2 t t2) d -> (b h2 w2 t2) (h w t) d")


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
