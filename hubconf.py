"""torch.hub entry points: the paper's models by the names they have in timm (see
``timesformer/timm_models.py`` and MODEL_ZOO.md), e.g.

    model = torch.hub.load("REPO_OR_DIR", "timesformer_base_patch16_224", pretrained=True)  # K400 weights
    model = torch.hub.load("REPO_OR_DIR", "timesformer_hr_base_patch16_448", pretrained=True, pretrained_cfg="ssv2")
    model = torch.hub.load(".", "timesformer_axial_base_patch16_224", source="local", num_classes=174)

``pretrained_cfg`` picks the released weights (``k400``, the default, ``k600`` or ``ssv2``); other
keyword arguments override the model (``num_classes``, ``num_frames``, ``img_size``, ...).
"""
# Modules the entry points import (torch.hub checks that each is installed).
dependencies = ["torch", "timm", "fvcore", "yacs", "yaml", "safetensors", "huggingface_hub", "numpy", "tqdm"]

from timesformer.timm_models import (  # noqa: E402, F401
    timesformer_axial_base_patch16_224,
    timesformer_base_patch16_224,
    timesformer_hr_base_patch16_448,
    timesformer_joint_base_patch16_224,
    timesformer_l_base_patch16_224,
    timesformer_local_global_base_patch16_224,
    timesformer_space_only_base_patch16_224,
)
