"""``unwrap_model``: the module inside the wrappers that training puts around it."""
from torch import nn

# DistributedDataParallel keeps the model as ``module``, torch.compile as ``_orig_mod``; either may
# wrap the other.
_WRAPPER_ATTRS = ("module", "_orig_mod", "module")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside DDP (``.module``) and torch.compile (``._orig_mod``) wrappers, in either order."""
    for attr in _WRAPPER_ATTRS:
        model = getattr(model, attr, model)
    return model
