"""tools/export.py: ONNX export of tiny checkpoints, checked against PyTorch with ONNX Runtime."""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.checkpoints import install_fake_hub, tiny_checkpoint
from tests.conftest import load_tool
from timesformer.errors import ExportVerificationError
from timesformer.export import export_onnx, verify_onnx
from timesformer.models import SCHEMES, from_pretrained

export = load_tool("export")


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_export_onnx_matches_pytorch(tmp_path, capsys, scheme):
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["TIMESFORMER.ATTENTION_TYPE", scheme])
    out = tmp_path / "onnx" / "m.onnx"
    rc = export.main(["--weights", str(ckpt), "--format", "onnx", "--out", str(out), "--class-names",
                      str(_names(tmp_path))])
    text = capsys.readouterr().out
    assert rc == 0 and "max abs diff" in text
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert (meta["num_frames"], meta["crop_size"], meta["attention_type"]) == ("4", "32", scheme)
    assert json.loads(meta["class_names"]) == [f"c{i}" for i in range(5)]
    # Independent check: ONNX Runtime on a batch of 3 (the batch axis is free) against PyTorch.
    model = from_pretrained(str(ckpt)).eval()
    x = torch.randn(3, 3, 4, 32, 32)
    logits, feats = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"video": x.numpy()})
    with torch.no_grad():
        assert np.allclose(logits, model(x).numpy(), atol=1e-4)
        assert np.allclose(feats, model.model.forward_features(x).numpy(), atol=1e-4)


def _names(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text("\n".join(f"c{i}" for i in range(5)))
    return path


def test_verification_fails_loudly_on_a_different_model(tmp_path):
    model = from_pretrained(str(tiny_checkpoint(tmp_path / "m.pth"))).eval()
    path = export_onnx(model, str(tmp_path / "m.onnx"), num_frames=4, size=32)
    x = [torch.randn(1, 3, 4, 32, 32)]
    assert verify_onnx(path, model, x) < 1e-4
    with torch.no_grad():
        model.model.head.bias += 0.5  # the PyTorch model no longer matches the file
    with pytest.raises(ExportVerificationError, match="differ by up to"):
        verify_onnx(path, model, x)


def test_export_rejects_a_clip_shape_the_scheme_cannot_take(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["TIMESFORMER.ATTENTION_TYPE", "sparse_local_global"])
    assert export.main(["--weights", str(ckpt), "--frames", "3", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "even" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()


def test_export_without_onnx_or_unreachable_weights_is_a_one_line_error(tmp_path, monkeypatch, capsys):

    install_fake_hub(monkeypatch, tmp_path)
    assert export.main(["--weights", "owner/missing", "--out", str(tmp_path / "x.onnx")]) == 2
    assert capsys.readouterr().err.startswith("error: could not fetch 'owner/missing'")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    assert export.main(["--weights", str(ckpt), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ONNX export needs the onnx and onnxruntime packages: pip install onnx onnxruntime")
    assert not (tmp_path / "x.onnx").exists()
