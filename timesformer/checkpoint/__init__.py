"""Weights and checkpoints as files and state dicts: read any released or ImageNet format, convert
between layouts, save/list/prune training checkpoints (see MODEL_ZOO.md). No model code: loading
weights into a model is ``timesformer.models.load_pretrained``."""
from timesformer.errors import LOAD_ERRORS

from .checkpointer import Checkpointer, capture_rng_state, restore_rng_state
from .convert import LoadReport, adapt_state_dict, hf_to_vit, infer_architecture, vit_to_hf
from .formats import FORMATS, UnsafeFileError, Weights, WriteError, read_file, read_hf_folder, write_weights
from .hub import FetchError
from .sources import read_source

__all__ = ["FORMATS", "LOAD_ERRORS", "Checkpointer", "FetchError", "LoadReport", "UnsafeFileError", "Weights",
           "WriteError", "adapt_state_dict", "capture_rng_state", "hf_to_vit",
           "infer_architecture", "read_file", "read_hf_folder", "read_source",
           "restore_rng_state", "vit_to_hf", "write_weights"]
