"""Clip transforms on uint8 frames: short-side resize, crops, flip, RandAugment, erasing; normalize.

Inside the dataset a clip is a uint8 RGB tensor (T, C, H, W); it leaves as (C, T, H, W) uint8 in
the model's channel order (``to_channel_order``) and is normalised on the training device by
``normalize``.
"""
import math
import platform
import random
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch.nn import functional as F


def to_tchw(frames: np.ndarray) -> torch.Tensor:
    """Decoded (T, H, W, C) uint8 array -> (T, C, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (T, C, H, W) so that min(H, W) == size, keeping the aspect ratio."""
    h, w = frames.shape[-2:]
    if min(h, w) == size:
        return frames
    if h <= w:
        new_h, new_w = size, int(math.floor(w * size / h + 0.5))
    else:
        new_h, new_w = int(math.floor(h * size / w + 0.5)), size
    return resize(frames, new_h, new_w)


def _native_uint8_bilinear(frames: torch.Tensor) -> bool:
    """Whether torch resizes this uint8 tensor itself, as torchvision decides (its AVX2/AVX-512 and ARM
    CPU kernels); elsewhere the frames go through float32 and are rounded back."""
    return frames.device.type == "cpu" and (torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
                                            or platform.machine() in ("aarch64", "arm64"))


def resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(..., C, H, W) -> (..., C, height, width), bilinear with antialiasing: the pixels of torchvision's
    ``transforms.v2.functional.resize`` (a test holds them equal) without importing torchvision, whose
    model zoo costs seconds at start-up."""
    shape = frames.shape
    x = frames.reshape(-1, *shape[-3:])  # (N, C, H, W)
    cast = x.dtype == torch.uint8 and not _native_uint8_bilinear(x)
    if cast or x.dtype not in (torch.uint8, torch.float32, torch.float64):
        x = x.float()
    out = F.interpolate(x, size=[height, width], mode="bilinear", align_corners=False, antialias=True)
    if out.dtype != frames.dtype:
        out = (out.round_() if not frames.dtype.is_floating_point else out).to(frames.dtype)
    return out.reshape(*shape[:-2], height, width)


def crop_offsets(height: int, width: int, size: int, position: int) -> Tuple[int, int]:
    """Top-left corner of crop ``position`` 0/1/2 = left/centre/right along the longer side.

    For portrait video (H > W) the positions are top/centre/bottom.
    """
    y, x = (height - size) // 2, (width - size) // 2
    if position == 1:
        return y, x
    if position not in (0, 2):
        raise ValueError(f"crop position {position}: expected 0, 1 or 2")
    if height > width:
        return (0 if position == 0 else height - size), x
    return y, (0 if position == 0 else width - size)


def spatial_crop(frames: torch.Tensor, size: int, position: int) -> torch.Tensor:
    """Square crop ``size`` of (T, C, H, W) at ``position`` (see crop_offsets)."""
    h, w = frames.shape[-2:]
    if min(h, w) < size:
        frames = resize_short_side(frames, size)
        h, w = frames.shape[-2:]
    y, x = crop_offsets(h, w, size, position)
    return frames[..., y:y + size, x:x + size]


def random_resized_crop(frames: torch.Tensor, scales: Sequence[int], size: int,
                        rng: np.random.Generator) -> torch.Tensor:
    """Training: short side to a random size in [scales[0], scales[1]], then a random square crop."""
    frames = resize_short_side(frames, int(rng.integers(scales[0], scales[1] + 1)))
    h, w = frames.shape[-2:]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return frames[..., y:y + size, x:x + size]


def random_flip(frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Mirror every frame left-right with probability 0.5."""
    return frames.flip(-1) if rng.random() < 0.5 else frames


def rand_augment(frames: torch.Tensor, policy: str, rng: np.random.Generator) -> torch.Tensor:
    """timm RandAugment ``policy`` with the same ops and magnitudes on every frame of the clip."""
    from PIL import Image
    from timm.data.auto_augment import rand_augment_transform

    h, w = frames.shape[-2:]
    transform = rand_augment_transform(policy, {"translate_const": int(min(h, w) * 0.45),
                                                "img_mean": (124, 116, 104)})
    seed = int(rng.integers(2 ** 31))
    out = []
    for frame in frames.permute(0, 2, 3, 1).numpy():  # (H, W, C) each
        # timm draws its choices from python's and numpy's global generators: reseeding them
        # identically before each frame makes every frame get the same ops.
        random.seed(seed)
        np.random.seed(seed)
        out.append(np.asarray(transform(Image.fromarray(frame))))
    return to_tchw(np.stack(out))


def random_erase(frames: torch.Tensor, prob: float, rng: np.random.Generator) -> torch.Tensor:
    """With probability ``prob`` fill one random box (the same in all frames) with random pixels."""
    if rng.random() >= prob:
        return frames
    h, w = frames.shape[-2:]
    for _ in range(10):
        area = rng.uniform(0.02, 1 / 3) * h * w
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
        eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < eh < h and 0 < ew < w:
            y, x = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            frames = frames.clone()
            noise = rng.integers(0, 256, size=(frames.shape[1], eh, ew), dtype=np.uint8)
            frames[..., y:y + eh, x:x + ew] = torch.from_numpy(noise)
            return frames
    return frames


def train_transform(frames: torch.Tensor, scales: Sequence[int], crop: int, flip: bool,
                    rng: np.random.Generator, aa_policy: str = "", erase_prob: float = 0.0) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (C, T, crop, crop) uint8 with jitter, crop, flip and optional timm aug."""
    frames = random_resized_crop(frames, scales, crop, rng)
    if flip:
        frames = random_flip(frames, rng)
    if aa_policy:
        frames = rand_augment(frames, aa_policy, rng)
    if erase_prob > 0:
        frames = random_erase(frames, erase_prob, rng)
    return frames.permute(1, 0, 2, 3).contiguous()


def eval_transform(frames: torch.Tensor, short_side: int, crop: int, position: int) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (C, T, crop, crop): resize the short side, crop at ``position``."""
    return eval_crop(resize_short_side(frames, short_side), crop, position)


def eval_crop(resized: torch.Tensor, crop: int, position: int) -> torch.Tensor:
    """``eval_transform`` of a clip already resized (``resize_short_side``): (T, C, H, W) uint8 ->
    (C, T, crop, crop); the crops of one clip share the resize."""
    return spatial_crop(resized, crop, position).permute(1, 0, 2, 3).contiguous()


def to_channel_order(frames: torch.Tensor, order: str, dim: int = 0) -> torch.Tensor:
    """RGB frames -> the model's channel order (DATA.INPUT_CHANNEL_ORDER) along ``dim``: unchanged
    for 'rgb', reversed for 'bgr' (what the released SSv2 checkpoints were trained on)."""
    if order == "rgb":
        return frames
    if order == "bgr":
        return frames.flip(dim)
    raise ValueError(f"channel order {order!r}: expected 'rgb' or 'bgr' (DATA.INPUT_CHANNEL_ORDER)")


def normalize(frames: torch.Tensor, mean: Sequence[float], std: Sequence[float],
              dtype: Optional[torch.dtype] = torch.float32) -> torch.Tensor:
    """uint8 (..., C, T, H, W) on any device -> float (x / 255 - mean) / std, per channel C."""
    mean_t = torch.as_tensor(mean, dtype=dtype, device=frames.device).view(-1, 1, 1, 1)
    std_t = torch.as_tensor(std, dtype=dtype, device=frames.device).view(-1, 1, 1, 1)
    return (frames.to(dtype) / 255.0 - mean_t) / std_t
