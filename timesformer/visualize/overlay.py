"""Draw attention maps over video frames: heat-map overlay, a PNG grid, an animated GIF or MP4."""
import os
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .mp4 import write_mp4

MIN_FRAME_PX = 128  # frames narrower than this are drawn larger (nearest neighbour), so labels fit
FONT_PX = 14  # label text height
BAR_PX = 12  # colour bar height
PAD = 4
# A perceptually ordered dark-blue -> red colour ramp (anchors of a "turbo"-like map), RGB 0..1.
_RAMP = np.array([[0.19, 0.07, 0.23], [0.16, 0.47, 0.94], [0.10, 0.81, 0.77], [0.64, 0.99, 0.24],
                  [0.98, 0.73, 0.22], [0.89, 0.27, 0.05], [0.48, 0.02, 0.01]])


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] of any shape -> RGB uint8 of shape (..., 3)."""
    x = np.clip(values, 0.0, 1.0) * (len(_RAMP) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_RAMP) - 2)
    frac = (x - lo)[..., None]
    rgb = _RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac
    return (rgb * 255).round().astype(np.uint8)


def overlay(frames: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend maps over frames. frames: (T, H, W, 3) uint8; heat: (T, h, w) in [0, 1], upsampled
    bilinearly to (H, W). Returns (T, H, W, 3) uint8."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got shape {frames.shape}")
    if heat.shape[0] != frames.shape[0]:
        raise ValueError(f"{heat.shape[0]} maps for {frames.shape[0]} frames; they must match")
    up = F.interpolate(torch.as_tensor(heat, dtype=torch.float32)[:, None], size=frames.shape[1:3],
                       mode="bilinear", align_corners=False)[:, 0].numpy()  # (T, H, W)
    blended = (1 - alpha) * frames.astype(np.float32) + alpha * colormap(up).astype(np.float32)
    return blended.round().clip(0, 255).astype(np.uint8)


def make_grid(rows: Sequence[np.ndarray], labels: Optional[Sequence[str]] = None, pad: int = 2) -> Image.Image:
    """Rows of frames (each (T, H, W, 3) uint8, same H, W) -> one image, a row per entry; ``labels``
    (one per column, e.g. frame relevance) are written on the first row."""
    t, h, w = rows[0].shape[:3]
    grid = Image.new("RGB", (t * (w + pad) + pad, len(rows) * (h + pad) + pad), (255, 255, 255))
    for r, frames in enumerate(rows):
        for c in range(t):
            grid.paste(Image.fromarray(frames[c]), (pad + c * (w + pad), pad + r * (h + pad)))
    if labels:
        draw = ImageDraw.Draw(grid)
        for c, text in enumerate(labels):
            draw.text((pad + c * (w + pad) + 2, pad + 1), text, fill=(255, 255, 255))
    return grid


def save_gif(frames: np.ndarray, path: str, fps: float = 4.0) -> str:
    """(T, H, W, 3) uint8 -> an endlessly looping animated GIF."""
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, int(round(1000 / fps))))
    return path


def save_mp4(frames: np.ndarray, path: str, fps: float = 4.0) -> str:
    """(T, H, W, 3) uint8 -> an H.264 MP4 at ``fps`` (sizes padded to even numbers, as yuv420p needs)."""
    write_mp4(frames, path, fps)
    return path


def save_animation(frames: np.ndarray, path: str, fps: float = 4.0) -> str:
    """Write an animation; the format follows the extension (.gif or .mp4)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".gif":
        return save_gif(frames, path, fps)
    if ext == ".mp4":
        return save_mp4(frames, path, fps)
    raise ValueError(f"animation {path}: expected a .gif or .mp4 file name")


def side_by_side(frames: np.ndarray, overlaid: np.ndarray) -> np.ndarray:
    """Frames and their overlays next to each other: (T, H, 2W, 3)."""
    return np.concatenate([frames, overlaid], axis=2)


def frame_labels(per_frame: Sequence[float], times: Optional[Sequence[float]] = None) -> List[str]:
    """One two-line label per frame: 'frame 3 at 1.07 s' and '23% of relevance', the frame's share
    of the class token's rollout relevance over the clip (the labels sum to about 100%)."""
    total = float(sum(per_frame)) or 1.0
    at = [f" at {t:.2f} s" for t in times] if times is not None else [""] * len(per_frame)
    return [f"frame {i}{at[i]}\n{100 * v / total:.0f}% of relevance" for i, v in enumerate(per_frame)]


def _font(px: int) -> ImageFont.ImageFont:
    """Pillow's built-in font at ``px`` pixels (a scalable one since Pillow 10.1)."""
    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # an older Pillow: its fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, font, width: int) -> List[str]:
    """``text`` broken into lines no wider than ``width`` pixels (at word boundaries)."""
    lines: List[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    return lines


def _text_band(lines: List[str], font, width: int, line_px: int) -> Image.Image:
    """A white band of ``width`` holding ``lines`` of text, left-aligned."""
    band = Image.new("RGB", (width, PAD * 2 + line_px * len(lines)), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for k, line in enumerate(lines):
        draw.text((PAD, PAD + k * line_px), line, fill=(0, 0, 0), font=font)
    return band


def _colour_bar(width: int, font, line_px: int) -> Image.Image:
    """The heat map's colour ramp, low (left) to high (right), with what it shows."""
    bar_w = max(64, width * 2 // 3)
    band = Image.new("RGB", (width, PAD * 3 + BAR_PX + line_px), (255, 255, 255))
    ramp = colormap(np.linspace(0, 1, bar_w))  # (bar_w, 3)
    band.paste(Image.fromarray(np.repeat(ramp[None], BAR_PX, axis=0)), (PAD, PAD))
    draw = ImageDraw.Draw(band)
    y = PAD * 2 + BAR_PX
    draw.text((PAD, y), "low", fill=(0, 0, 0), font=font)
    draw.text((PAD + bar_w - font.getlength("high"), y), "high", fill=(0, 0, 0), font=font)
    return band


def attention_picture(frames: np.ndarray, blended: np.ndarray, per_frame: Sequence[float], title: str = "",
                      frame_times: Optional[Sequence[float]] = None) -> Image.Image:
    """The PNG a person reads: ``title`` (class, probability, clip time), the frames above their
    overlays (each drawn at least MIN_FRAME_PX wide), under each column its time and its share of
    the relevance, a colour bar and a line saying what the colours and percentages mean."""
    scale = -(-MIN_FRAME_PX // frames.shape[2])  # ceil: nearest-neighbour upscaling of small crops

    def up(x: np.ndarray) -> np.ndarray:  # (T, H, W, 3) -> (T, H * scale, W * scale, 3)
        return x.repeat(scale, axis=1).repeat(scale, axis=2)

    grid = make_grid([up(frames), up(blended)])
    width, cell = grid.width, frames.shape[2] * scale + 2
    font, line_px = _font(FONT_PX), FONT_PX + 4
    labels = Image.new("RGB", (width, PAD * 2 + 2 * line_px), (255, 255, 255))
    draw = ImageDraw.Draw(labels)
    for c, label in enumerate(frame_labels(per_frame, frame_times)):
        for k, line in enumerate(label.split("\n")):
            draw.text((2 + c * cell + 2, PAD + k * line_px), line, fill=(0, 0, 0), font=font)
    meaning = ("Colours: the class token's attention rollout over the clip's patches, scaled to [0, 1] over "
               "the clip. Percent: each frame's share of that relevance (the frames sum to 100%).")
    parts = [_text_band(_wrap(title, _font(FONT_PX + 2), width - 2 * PAD), _font(FONT_PX + 2), width, line_px + 2)
             if title else None, grid, labels, _colour_bar(width, font, line_px),
             _text_band(_wrap(meaning, font, width - 2 * PAD), font, width, line_px)]
    parts = [p for p in parts if p is not None]
    picture = Image.new("RGB", (width, sum(p.height for p in parts)), (255, 255, 255))
    y = 0
    for part in parts:
        picture.paste(part, (0, y))
        y += part.height
    return picture


def write_attention(frames: np.ndarray, heat: np.ndarray, per_frame: Sequence[float], out_dir: str, stem: str,
                    fmt: str = "gif", fps: float = 4.0, alpha: float = 0.5, title: str = "",
                    frame_times: Optional[Sequence[float]] = None) -> dict:
    """Write ``<stem>_attention.png`` (:func:`attention_picture`: ``title``, frames over their
    overlays, labels with ``frame_times`` in seconds, colour bar), ``<stem>_attention.<fmt>``
    (frames and overlays side by side, animated) and ``<stem>_rollout.npy`` (the raw map).
    frames: (T, H, W, 3) uint8; heat: (T, h, w) in [0, 1]. Returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    blended = overlay(frames, heat, alpha)
    paths = {"png": os.path.join(out_dir, f"{stem}_attention.png"),
             "animation": os.path.join(out_dir, f"{stem}_attention.{fmt}"),
             "npy": os.path.join(out_dir, f"{stem}_rollout.npy")}
    attention_picture(frames, blended, per_frame, title, frame_times).save(paths["png"])
    save_animation(side_by_side(frames, blended), paths["animation"], fps)
    np.save(paths["npy"], heat.astype(np.float32))
    return paths


__all__ = ["attention_picture", "colormap", "frame_labels", "make_grid", "overlay", "save_animation", "save_gif",
           "save_mp4", "side_by_side", "write_attention"]
