"""Weights and checkpoints: load any released or ImageNet format, convert between layouts, and
save/resume training state (see MODEL_ZOO.md)."""
from timesformer.errors import LOAD_ERRORS

from .checkpointer import Checkpointer, capture_rng_state, restore_rng_state, resume_or_load
from .convert import LoadReport, adapt_state_dict, hf_to_vit, infer_architecture, vit_to_hf
from .formats import FORMATS, UnsafeFileError, Weights, WriteError, read_file, read_hf_folder, write_weights
from .hub import FetchError
from .loader import from_pretrained, load_pretrained, read_source

__all__ = ["FORMATS", "LOAD_ERRORS", "Checkpointer", "FetchError", "LoadReport", "UnsafeFileError", "Weights",
           "WriteError", "adapt_state_dict", "capture_rng_state", "from_pretrained", "hf_to_vit",
           "infer_architecture", "load_pretrained", "read_file", "read_hf_folder", "read_source",
           "restore_rng_state", "resume_or_load", "vit_to_hf", "write_weights"]
