"""Exporting a trained TimeSformer for deployment: ONNX (``onnx.py``), checked against PyTorch."""
from .onnx import LogitsAndFeatures, export_metadata, export_onnx, require_onnx, verify_onnx

__all__ = ["LogitsAndFeatures", "export_metadata", "export_onnx", "require_onnx", "verify_onnx"]
