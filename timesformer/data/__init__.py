"""Video data: decoding, clip sampling, transforms, datasets and loaders.

``build_loader(cfg, split)`` yields dict batches: "frames" uint8 (B, C, T, H, W) with channels in
DATA.INPUT_CHANNEL_ORDER, "label",
"video_index", "view_index", "num_replaced", "frames_decoded" (frames the decoder produced for the
item; 0 when it reused its clip) int64 (B,) and "valid" bool (B,). ``normalize`` turns
the frames into float model input on whichever device they are. ``test_protocol(cfg)`` says
which clips and crops of a video the test split scores (tools/predict.py scores the same).
``train_batch(cfg, processes)`` says how the effective batch TRAIN.BATCH_SIZE runs on a number of
processes, any number of them (each one's clips per iteration, iterations accumulated per optimizer step).
"""
from .batching import TrainBatch, iterations_per_epoch, train_batch
from .build import (
    build_dataset,
    build_loader,
    build_mixup,
    check_data_config,
    eval_batch,
    shuffle_dataset,
    test_protocol,
)
from .datasets import DATASETS, VideoDataset
from .protocol import EvalProtocol
from .transforms import normalize

__all__ = ["DATASETS", "EvalProtocol", "TrainBatch", "VideoDataset", "build_dataset", "build_loader", "build_mixup",
           "check_data_config", "eval_batch", "iterations_per_epoch", "normalize", "shuffle_dataset", "test_protocol",
           "train_batch"]
