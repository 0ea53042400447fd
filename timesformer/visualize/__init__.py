"""Pictures of a model and its results: attention rollout through space and time, overlays on the
frames, confusion matrices."""
from .confusion import confusion_figure, save_confusion_csv, save_confusion_png
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

__all__ = ["HEAD_FUSIONS", "attention_picture", "attention_rollout", "colormap", "confusion_figure",
           "frame_labels", "fuse_heads", "make_grid", "normalize_maps", "overlay", "rollout", "save_animation",
           "save_confusion_csv", "save_confusion_png", "side_by_side", "write_attention"]
