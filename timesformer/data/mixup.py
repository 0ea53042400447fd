"""timm Mixup/CutMix for video batches: mixes (B, C, T, H, W) with the same box in every frame."""
import torch
from timm.data import Mixup


class VideoMixup(Mixup):
    """timm ``Mixup`` whose CutMix box spans all frames (timm's slicing assumes (B, C, H, W))."""

    def __call__(self, x: torch.Tensor, target: torch.Tensor):
        """x: float (B, C, T, H, W) with B even; target: int64 (B,), or multi-hot float (B, K) in timm's
        multi_label mode -> (mixed x, soft targets (B, K))."""
        b, c, t, h, w = x.shape
        mixed, soft = super().__call__(x.reshape(b, c * t, h, w), target)  # (B, C*T, H, W)
        return mixed.reshape(b, c, t, h, w), soft
