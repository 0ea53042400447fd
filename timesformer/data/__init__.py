"""Video data: decoding, clip sampling, transforms, datasets and loaders.

``build_loader(cfg, split)`` yields dict batches: "frames" uint8 (B, C, T, H, W) with channels in
DATA.INPUT_CHANNEL_ORDER, "label",
"video_index", "view_index", "num_replaced" int64 (B,) and "valid" bool (B,). ``normalize`` turns
the frames into float model input on whichever device they are.
"""
from .build import build_dataset, build_loader, build_mixup, shuffle_dataset
from .datasets import DATASETS, VideoDataset
from .transforms import normalize

__all__ = ["DATASETS", "VideoDataset", "build_dataset", "build_loader", "build_mixup", "normalize",
           "shuffle_dataset"]
