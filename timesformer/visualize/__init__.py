"""Attention maps of a TimeSformer: rollout through space and time, and overlays on the frames."""
from .overlay import colormap, frame_labels, make_grid, overlay, save_animation, side_by_side, write_attention
from .rollout import HEAD_FUSIONS, attention_rollout, fuse_heads, normalize_maps, rollout

__all__ = ["HEAD_FUSIONS", "attention_rollout", "colormap", "frame_labels", "fuse_heads", "make_grid",
           "normalize_maps", "overlay", "rollout", "save_animation", "side_by_side", "write_attention"]
