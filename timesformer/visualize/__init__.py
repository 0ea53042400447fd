"""Pictures of what a model attends to: attention rollout through space and time, overlays on the
frames, animations, the labelled timeline video. (The evaluator's confusion matrices:
``timesformer.engine.confusion``.)"""
from .overlay import (
    attention_picture,
    colormap,
    frame_labels,
    make_grid,
    overlay,
    save_animation,
    side_by_side,
    write_attention,
)
from .rollout import HEAD_FUSIONS, attention_rollout, fuse_heads, normalize_maps, rollout

__all__ = ["HEAD_FUSIONS", "attention_picture", "attention_rollout", "colormap", "frame_labels", "fuse_heads",
           "make_grid", "normalize_maps", "overlay", "rollout", "save_animation", "side_by_side", "write_attention"]
