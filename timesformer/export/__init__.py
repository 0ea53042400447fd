"""Exporting a trained TimeSformer for deployment: ONNX (``onnx.py``) and Hugging Face folders
(``hf.py``), each checked against PyTorch."""
from .hf import check_parity, export_weights
from .onnx import LogitsAndFeatures, export_metadata, export_onnx, require_onnx, verify_onnx

__all__ = ["LogitsAndFeatures", "check_parity", "export_metadata", "export_onnx", "export_weights", "require_onnx",
           "verify_onnx"]
