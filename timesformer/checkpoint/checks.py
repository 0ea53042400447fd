"""Validation of the TRAIN checkpoint keys (called from timesformer/config/checks.py)."""
import os

from timesformer.config.checks import require


def check_checkpoint_config(cfg) -> None:
    """KEEP_LAST >= 0; a resumed CHECKPOINT_FILE_PATH exists; FINETUNE needs CHECKPOINT_FILE_PATH."""
    t = cfg.TRAIN
    require(t.CHECKPOINT_KEEP_LAST >= 0, "TRAIN.CHECKPOINT_KEEP_LAST", t.CHECKPOINT_KEEP_LAST,
            "a count >= 0 (0 keeps every checkpoint)")
    require(not t.CHECKPOINT_FILE_PATH or t.FINETUNE or os.path.exists(t.CHECKPOINT_FILE_PATH),
            "TRAIN.CHECKPOINT_FILE_PATH", t.CHECKPOINT_FILE_PATH,
            "an existing training checkpoint, or '' for none (with TRAIN.FINETUNE True also a hub id)")
    require(not t.FINETUNE or bool(t.CHECKPOINT_FILE_PATH), "TRAIN.FINETUNE", t.FINETUNE,
            "False unless TRAIN.CHECKPOINT_FILE_PATH names the weights to fine-tune from "
            "(for an ImageNet ViT use TIMESFORMER.PRETRAINED_MODEL)")
