"""Export a TimeSformer to ONNX and check that ONNX Runtime computes the same outputs.

The exported graph takes a normalised clip ``video`` (B, 3, T, S, S) float32 (batch size free; T
and S fixed at export) and returns ``logits`` (B, K) and ``features`` (B, D), the final CLS
embedding. Mean, std, channel order (``rgb``, or ``bgr`` for the released SSv2 models), frames, crop
size, class names and where those came from (``class_names_source``) are stored as ONNX metadata.
"""
import json
import logging
import warnings
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from timesformer.errors import ExportVerificationError
from timesformer.models import backbone

logger = logging.getLogger(__name__)


class LogitsAndFeatures(nn.Module):
    """Wrap a TimeSformer so one forward returns (logits, final CLS feature)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.vit = backbone(model)

    def forward(self, video: Tensor):
        feat = self.vit.forward_features(video)  # (B, D)
        return self.vit.forward_head(feat), feat


def require_onnx() -> Tuple[ModuleType, ModuleType]:
    """The onnx and onnxruntime modules, or an ImportError that says how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ImportError("ONNX export needs the onnx and onnxruntime packages: "
                          "pip install onnx onnxruntime") from e
    return onnx, onnxruntime


def export_onnx(model: nn.Module, path: str, num_frames: int, size: int, opset: int = 17,
                metadata: Optional[Dict[str, str]] = None) -> str:
    """Trace ``model`` on a (1, 3, num_frames, size, size) clip with the TorchScript-based exporter
    (``dynamo=False``; SDPA becomes plain MatMul/Softmax ops), batch axis dynamic; store metadata."""
    onnx, _ = require_onnx()
    wrapped = LogitsAndFeatures(model).eval().cpu()
    dummy = torch.randn(1, 3, num_frames, size, size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks are constant once traced
        torch.onnx.export(wrapped, (dummy,), path, dynamo=False, opset_version=opset,
                          input_names=["video"], output_names=["logits", "features"],
                          dynamic_axes={"video": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}})
    proto = onnx.load(path)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, path)
    return path


def verify_onnx(path: str, model: nn.Module, inputs: Sequence[Tensor], tolerance: float = 1e-3) -> float:
    """Run the ONNX file in ONNX Runtime (CPU) and ``model`` in PyTorch on each input; return the max
    abs difference over all outputs, or raise ExportVerificationError when it exceeds ``tolerance``
    (relative to the outputs' scale, at least 1)."""
    _, ort = require_onnx()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    wrapped = LogitsAndFeatures(model).eval().cpu()
    worst, scale = 0.0, 1.0
    for x in inputs:
        with torch.no_grad():
            expected = [t.numpy() for t in wrapped(x)]
        got = session.run(["logits", "features"], {"video": x.numpy()})
        for name, e, g in zip(("logits", "features"), expected, got, strict=True):
            if e.shape != g.shape:
                raise ExportVerificationError(f"{path}: ONNX Runtime gives {name} of shape {g.shape}, "
                                              f"PyTorch {e.shape}")
            worst = max(worst, float(np.abs(e - g).max()))
            scale = max(scale, float(np.abs(e).max()))
    if not worst <= tolerance * scale:
        raise ExportVerificationError(f"{path}: ONNX Runtime and PyTorch outputs differ by up to {worst:.3g} "
                                      f"(tolerance {tolerance:g} x output scale {scale:.3g}); the export is "
                                      "not faithful: try another --opset or report the model and versions")
    return worst


def export_metadata(cfg, class_names: Optional[List[str]], attention_type: str,
                    class_names_source: str = "none") -> Dict[str, str]:
    """What a user of the ONNX file needs to prepare input and read output (how logits become
    probabilities: a softmax, or per class a sigmoid for a multi-label model; where the class names
    came from: a guess from the class count is stated as one)."""
    d = cfg.DATA
    order = d.INPUT_CHANNEL_ORDER
    meta = {"input": f"normalised clip (B, 3, T, S, S): (pixels/255 - mean) / std, channels {order.upper()}",
            "channel_order": order, "mean": json.dumps(list(d.MEAN)), "std": json.dumps(list(d.STD)),
            "num_frames": str(d.NUM_FRAMES), "crop_size": str(d.TEST_CROP_SIZE),
            "attention_type": attention_type, "class_names_source": class_names_source,
            "probability": ("sigmoid of each logit (multi-label)" if d.MULTI_LABEL
                            else "softmax over the logits")}
    if class_names:
        meta["class_names"] = json.dumps(class_names)
    return meta
