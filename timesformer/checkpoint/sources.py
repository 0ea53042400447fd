"""``read_source``: weights from a local file or folder, a timm model name or a Hugging Face hub id.

Reading only: putting the weights into a model is ``timesformer.models.load_pretrained``.
"""
import os
from typing import Union

from timesformer.errors import ConfigError

from .formats import Weights, read_file, read_hf_folder
from .hub import WEIGHT_SUFFIXES, download_hf, is_timm_name, looks_like_hub_id, looks_like_path, read_timm
from .zoo import find_released

Source = Union[str, "os.PathLike[str]", Weights]


def source_error(key: str, source: str, e: Exception) -> ConfigError:
    """``e``, a failure to use ``source``, as a ConfigError naming config key ``key`` (the path said once)."""
    msg = str(e)
    rest = msg[len(source):] if msg.startswith(source) else f": {msg}"
    return ConfigError(f"{key} = {source!r}{rest}")


def read_source(source: Source, lazy: bool = False) -> Weights:
    """Weights from a local file or folder, a released model's name (``timesformer_base_patch16_224.k400``,
    read from its hub port, see ``zoo.py``), a timm model name or a Hugging Face hub id (``lazy``:
    tensors of a local PyTorch file mapped, not read, see ``formats.read_file``)."""
    if isinstance(source, Weights):
        return source
    source = os.path.expanduser(os.fspath(source))
    if os.path.isdir(source):
        return read_hf_folder(source, lazy)
    if os.path.isfile(source):
        return read_file(source, lazy)
    if looks_like_path(source):
        where = "" if os.path.isabs(source) else f" (relative to {os.getcwd()})"
        raise FileNotFoundError(f"pretrained weights {source}{where}: no such file; expected a weights file "
                                f"({', '.join(WEIGHT_SUFFIXES)}) or a Hugging Face model folder. Check the "
                                "path; MODEL_ZOO.md says where to get the released checkpoints")
    released = find_released(source)
    if released is not None:
        return read_hf_folder(download_hf(released.hub_id), lazy)
    if is_timm_name(source):
        return read_timm(source)
    if looks_like_hub_id(source):
        return read_hf_folder(download_hf(source), lazy)
    raise FileNotFoundError(f"pretrained weights {source!r}: no such file or folder, and not a timm model "
                            "name (e.g. vit_base_patch16_224.orig_in21k_ft_in1k) or a Hugging Face hub id "
                            "(e.g. facebook/timesformer-base-finetuned-k400)")
