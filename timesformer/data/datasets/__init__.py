"""Datasets by name (TRAIN.DATASET / TEST.DATASET): each module registers its class in DATASETS."""
from timesformer.errors import AnnotationError, BadVideosError

from . import diving48, hmdb51, howto100m, kinetics, ssv2, synthetic, ucf101, video_list  # noqa: F401  (registration)
from .base import VideoDataset
from .records import BAD_KINDS, DATASETS, BadFile, VideoRecord, register_dataset

__all__ = [
    "BAD_KINDS", "DATASETS", "AnnotationError", "BadFile", "BadVideosError", "VideoDataset", "VideoRecord",
    "register_dataset",
]
