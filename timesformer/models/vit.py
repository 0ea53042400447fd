"""TimeSformer: a ViT over the patches of every frame with a space-time attention scheme.

``VisionTransformer`` takes the reference code's keyword arguments; ``TimeSformer`` wraps it as
``self.model`` so that state-dict keys carry the released checkpoints' ``model.`` prefix.
"""
import logging
from typing import Dict, List, Optional, Set, Tuple, Union

import torch
from timm.layers import resample_abs_pos_embed, trunc_normal_
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from timesformer.checkpoint.convert import resample_time_embed
from timesformer.config.defaults import ARCHS as PRESETS

from .attention import Block, get_scheme
from .pretrained import load_pretrained

logger = logging.getLogger(__name__)


class VisionTransformer(nn.Module):
    """Video ViT: patch embedding per frame, ``depth`` space-time blocks, final norm, linear head.

    Input ``(B, C, T, H, W)``; output logits ``(B, num_classes)``. Any T and any H, W divisible by
    the patch size work: ``pos_embed`` is resampled in 2-D (bicubic, timm) and ``time_embed`` in
    1-D (nearest, as the reference code) from the actual input shape.
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 num_classes: int = 1000, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1, num_frames: int = 8,
                 attention_type: str = "divided_space_time", head_drop_rate: float = 0.0,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.scheme = get_scheme(attention_type)
        self.attention_type = attention_type
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} must be a multiple of patch_size {patch_size}")
        self.patch_size, self.in_chans, self.num_frames = patch_size, in_chans, num_frames
        self.num_classes, self.embed_dim, self.depth = num_classes, embed_dim, depth
        self.patch_grid = (img_size // patch_size, img_size // patch_size)
        self.scheme.check_grid(num_frames, *self.patch_grid)
        num_patches = self.patch_grid[0] * self.patch_grid[1]

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        if self.scheme.has_time_embed:
            self.time_embed = nn.Parameter(torch.zeros(1, num_frames, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # rises linearly
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, self.scheme, mlp_ratio, qkv_bias, dpr[i], attn_drop_rate, norm_eps)
            for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.head_drop = nn.Dropout(head_drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.grad_checkpointing = False
        self.init_weights()

    def init_weights(self) -> None:
        """ViT init (truncated normal 0.02); time_embed and every ``*_fc`` start at zero."""
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias) if m.bias is not None else None
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for name, m in self.named_modules():
            if name.endswith("_fc"):
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> Set[str]:
        """Parameter names that the reference exempted from weight decay."""
        return {"pos_embed", "cls_token", "time_embed"}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass instead of storing its activations."""
        self.grad_checkpointing = enable

    def check_input(self, x: Tensor) -> Tuple[int, int, int, int]:
        """Validate a clip ``(B, C, T, H, W)``; return (B, T, H', W') or raise a ValueError."""
        if x.dim() != 5:
            raise ValueError(f"expected a clip of shape (B, C, T, H, W), got a {x.dim()}-D tensor "
                             f"of shape {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        if c != self.in_chans:
            raise ValueError(f"expected {self.in_chans} channels in dim 1 of (B, C, T, H, W), got "
                             f"shape {tuple(x.shape)}; a (B, T, C, H, W) clip needs x.transpose(1, 2)")
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"frame size {h}x{w} is not divisible by the patch size {p}; resize or "
                             f"crop to a multiple of {p} (e.g. {max(1, h // p) * p}x{max(1, w // p) * p})")
        self.scheme.check_grid(t, h // p, w // p)
        return b, t, h // p, w // p

    def pos_embed_for(self, h: int, w: int) -> Tensor:
        """pos_embed ``(1, 1 + h*w, D)`` for an h x w patch grid."""
        if (h, w) == self.patch_grid:
            return self.pos_embed
        return resample_abs_pos_embed(self.pos_embed, new_size=[h, w], old_size=list(self.patch_grid),
                                      num_prefix_tokens=1)

    def time_embed_for(self, t: int) -> Tensor:
        """time_embed ``(1, t, D)`` for t frames."""
        if t == self.num_frames:
            return self.time_embed
        return resample_time_embed(self.time_embed, t)

    def embed(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int, int]]:
        """Clip -> tokens: ``(B, 1 + N*T, D)`` patch-major time-minor, or ``(B*T, 1 + N, D)``
        for space_only; also the (T, H', W') grid."""
        b, t, h, w = self.check_input(x)
        patches = self.patch_embed(x)  # (B, T, N, D)
        pos = self.pos_embed_for(h, w)
        cls = self.cls_token + pos[:, :1]  # (1, 1, D)
        patches = patches + pos[:, None, 1:]
        if self.scheme.frame_batched:
            tokens = torch.cat([cls.expand(b * t, -1, -1), patches.flatten(0, 1)], dim=1)
        else:
            patches = patches.transpose(1, 2) + self.time_embed_for(t)[:, None]  # (B, N, T, D)
            tokens = torch.cat([cls.expand(b, -1, -1), patches.flatten(1, 2)], dim=1)
        return self.pos_drop(tokens), (t, h, w)

    def _encode(self, x: Tensor, maps: Optional[List[Dict[str, Tensor]]] = None
                ) -> Tuple[Tensor, Tuple[int, int, int]]:
        """Clip ``(B, C, T, H, W)`` -> the last block's tokens before the final norm, ``(B, 1 + N*T, D)``
        patch-major time-minor (space_only: ``(B, 1 + N, D)`` averaged over the frames), and the
        (T, H', W') grid; ``maps`` (a list) collects one dict of attention weights per block."""
        b = x.shape[0]
        x, (t, h, w) = self.embed(x)
        grid = (1, h, w) if self.scheme.frame_batched else (t, h, w)
        for blk in self.blocks:
            if maps is not None:
                maps.append({})
                x = blk(x, grid, maps[-1])
            elif self.grad_checkpointing and self.training:
                x = checkpoint(blk, x, grid, use_reentrant=False)
            else:
                x = blk(x, grid)
        if self.scheme.frame_batched:  # space_only: average all tokens over the frames
            x = x.view(b, t, *x.shape[1:]).mean(dim=1)
        return x, (t, h, w)

    def forward_features(self, x: Tensor, return_attention: bool = False
                         ) -> Union[Tensor, Tuple[Tensor, List[Dict[str, Tensor]]]]:
        """Clip ``(B, C, T, H, W)`` -> final-norm CLS feature ``(B, D)``; with ``return_attention``
        also a list (one dict per block) of every step's attention weights ``(B*G, heads, L, L)``."""
        maps: Optional[List[Dict[str, Tensor]]] = [] if return_attention else None
        x, _ = self._encode(x, maps)
        feat = self.norm(x)[:, 0]
        return (feat, maps) if return_attention else feat

    def forward_tokens(self, x: Tensor) -> Tensor:
        """Clip ``(B, C, T, H, W)`` -> every final-norm token ``(B, 1 + L, D)``: the CLS token (what
        ``forward_features`` returns), then the patch tokens time-major, in (t, h', w') order, L =
        T * H' * W' (space_only: L = H' * W', averaged over the frames as its CLS is)."""
        x, (t, h, w) = self._encode(x)
        x = self.norm(x)
        if self.scheme.frame_batched:
            return x
        b, d = x.shape[0], x.shape[-1]
        patches = x[:, 1:].view(b, h * w, t, d).transpose(1, 2).reshape(b, t * h * w, d)  # (B, T*H'*W', D)
        return torch.cat([x[:, :1], patches], dim=1)

    def forward_head(self, feat: Tensor) -> Tensor:
        return self.head(self.head_drop(feat))

    def forward(self, x: Tensor, return_attention: bool = False):
        """Clip ``(B, C, T, H, W)`` -> logits ``(B, num_classes)`` (and attention maps if asked)."""
        if return_attention:
            feat, maps = self.forward_features(x, return_attention=True)
            return self.forward_head(feat), maps
        return self.forward_head(self.forward_features(x))


class PatchEmbed(nn.Module):
    """Per-frame non-overlapping patches -> tokens (key ``proj``, a Conv2d as in ViT)."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, T, H, W) -> (B, T, H'*W', D), patches in row-major order."""
        b, c, t, h, w = x.shape
        x = self.proj(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B*T, D, H', W')
        return x.flatten(2).transpose(1, 2).reshape(b, t, -1, x.shape[1])


class TimeSformer(nn.Module):
    """The reference's entry point: ``TimeSformer(img_size=224, num_classes=400, num_frames=8,
    attention_type='divided_space_time', pretrained_model='')`` gives the paper's ViT-B/16 model.

    ``arch`` picks a preset (``vit_base_patch16`` by default); other keyword arguments override it
    (``embed_dim=64, depth=2, num_heads=2`` for a tiny model). ``pretrained_model`` names weights to
    load after building (``timesformer.models.load_pretrained``; the formats: ``timesformer.checkpoint``);
    '' builds a randomly initialised model and nothing is ever downloaded by the constructor itself for
    an empty name.
    """

    def __init__(self, img_size: int = 224, patch_size: Optional[int] = None, num_classes: int = 400,
                 num_frames: int = 8, attention_type: str = "divided_space_time",
                 pretrained_model: str = "", arch: str = "vit_base_patch16", **kwargs):
        super().__init__()
        if arch not in PRESETS:
            raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(PRESETS)}")
        vit_kwargs = dict(PRESETS[arch])
        if patch_size is not None:
            vit_kwargs["patch_size"] = patch_size
        vit_kwargs.update(kwargs)
        self.model = VisionTransformer(img_size=img_size, num_classes=num_classes, num_frames=num_frames,
                                       attention_type=attention_type, **vit_kwargs)
        self.attention_type = attention_type
        self.pretrained_model = pretrained_model
        if pretrained_model:
            load_pretrained(self, pretrained_model)

    def no_weight_decay(self) -> Set[str]:
        return {f"model.{n}" for n in self.model.no_weight_decay()}

    def forward(self, x: Tensor, return_attention: bool = False):
        return self.model(x, return_attention=return_attention)
