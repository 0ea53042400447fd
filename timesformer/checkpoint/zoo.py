"""The paper's models by name: each architecture's shape (``ARCHITECTURES``) and the released weights,
``architecture.tag`` (timm's convention, e.g. ``timesformer_hr_base_patch16_448.k600``) -> the Hugging
Face hub port and what it holds.

The names are the ones ``timesformer.timm_models`` registers with timm and ``hubconf.py`` exposes
(``timesformer.models.zoo`` builds them); a source named so (``read_source``) is read from its hub id.
Data only: nothing here imports model code or downloads. The weights are the authors', under CC BY-NC
4.0 (see MODEL_ZOO.md).
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from timesformer.config.defaults import get_cfg

# name -> the TimeSformer keyword arguments that make it (ViT-B/16 preset, NUM_CLASSES classes).
ARCHITECTURES: Dict[str, Dict[str, Any]] = {
    "timesformer_base_patch16_224": dict(attention_type="divided_space_time", num_frames=8, img_size=224),
    "timesformer_hr_base_patch16_448": dict(attention_type="divided_space_time", num_frames=16, img_size=448),
    "timesformer_l_base_patch16_224": dict(attention_type="divided_space_time", num_frames=96, img_size=224),
    "timesformer_space_only_base_patch16_224": dict(attention_type="space_only", num_frames=8, img_size=224),
    "timesformer_joint_base_patch16_224": dict(attention_type="joint_space_time", num_frames=8, img_size=224),
    "timesformer_local_global_base_patch16_224": dict(attention_type="sparse_local_global", num_frames=8,
                                                      img_size=224),
    "timesformer_axial_base_patch16_224": dict(attention_type="axial", num_frames=8, img_size=224),
}
NUM_CLASSES = 400  # the head of a name without a tag (Kinetics-400)

# The license of every released checkpoint (the .pyth files and their facebook/timesformer-* ports),
# as a Hugging Face model card names it, and in words.
RELEASED_LICENSE = "cc-by-nc-4.0"
RELEASED_LICENSE_TEXT = ("CC BY-NC 4.0 (Creative Commons Attribution-NonCommercial 4.0): non-commercial use, "
                         "with attribution to the paper; the terms stay with any checkpoint converted or "
                         "fine-tuned from these weights")


@dataclass(frozen=True)
class Released:
    """One released checkpoint: its hub port, dataset, classes, frames, crop and top-1 (the authors')."""

    hub_id: str
    dataset: str
    num_classes: int
    num_frames: int
    img_size: int
    top1: float


def _released(size: str, dataset: str, num_classes: int, num_frames: int, img_size: int, top1: float,
              tag: str) -> Released:
    return Released(f"facebook/timesformer-{size}-finetuned-{tag}", dataset, num_classes, num_frames, img_size,
                    top1)


# architecture.tag -> weights; the first tag of an architecture is its default (``pretrained=True``).
RELEASED: Dict[str, Released] = {
    "timesformer_base_patch16_224.k400": _released("base", "Kinetics-400", 400, 8, 224, 77.9, "k400"),
    "timesformer_base_patch16_224.k600": _released("base", "Kinetics-600", 600, 8, 224, 79.1, "k600"),
    "timesformer_base_patch16_224.ssv2": _released("base", "Something-Something-V2", 174, 8, 224, 59.1, "ssv2"),
    "timesformer_hr_base_patch16_448.k400": _released("hr", "Kinetics-400", 400, 16, 448, 79.6, "k400"),
    "timesformer_hr_base_patch16_448.k600": _released("hr", "Kinetics-600", 600, 16, 448, 81.8, "k600"),
    "timesformer_hr_base_patch16_448.ssv2": _released("hr", "Something-Something-V2", 174, 16, 448, 61.8, "ssv2"),
    "timesformer_l_base_patch16_224.k400": _released("large", "Kinetics-400", 400, 96, 224, 80.6, "k400"),
    "timesformer_l_base_patch16_224.k600": _released("large", "Kinetics-600", 600, 96, 224, 82.2, "k600"),
    # the released SSv2 TimeSformer-L takes 64 frames, not 96
    "timesformer_l_base_patch16_224.ssv2": _released("large", "Something-Something-V2", 174, 64, 224, 62.0, "ssv2"),
}


def split_name(name: str) -> Tuple[str, str]:
    """'arch.tag' -> ('arch', 'tag'); 'arch' -> ('arch', '')."""
    arch, _, tag = name.partition(".")
    return arch, tag


def tags_of(arch: str) -> Tuple[str, ...]:
    """The weight tags released for architecture ``arch`` (the default first); () when none."""
    return tuple(split_name(n)[1] for n in RELEASED if split_name(n)[0] == arch)


def find_released(name: str) -> Optional[Released]:
    """The released weights ``name`` names (``arch.tag``, or ``arch`` for its default tag), else None."""
    arch, tag = split_name(name)
    tags = tags_of(arch)
    if not tags or (tag and tag not in tags):
        return None
    return RELEASED[f"{arch}.{tag or tags[0]}"]


def timm_data_cfg(img_size: int, num_classes: int) -> Dict[str, Any]:
    """timm's data config of a model (``timm.data.resolve_data_config`` reads it): the test crop, the
    library's normalisation (DATA.MEAN / DATA.STD), a 256/224 resize before the centre crop."""
    data = get_cfg().DATA
    return dict(input_size=(3, img_size, img_size), mean=tuple(data.MEAN), std=tuple(data.STD),
                interpolation="bilinear", crop_pct=224 / 256, num_classes=num_classes)
