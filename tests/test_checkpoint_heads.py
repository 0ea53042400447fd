"""The attention-head count cannot be read off the tensors: a file that does not state it is
converted or loaded only when its width is a preset's (vit_small 384: 6, vit_base 768: 12,
vit_large 1024: 16) or when the user states it; never written with a guessed count."""
import logging
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from timesformer.checkpoint import read_source
from timesformer.errors import HeadsUnknownError
from timesformer.models import TimeSformer, from_pretrained


def _plain_state_dict(path, embed_dim: int, num_heads: int) -> TimeSformer:
    """A bare state dict (no config, no model kwargs), as ``torch.save(model.state_dict())`` writes."""
    model = TimeSformer(img_size=32, patch_size=8, embed_dim=embed_dim, depth=1, num_heads=num_heads,
                        num_frames=4, num_classes=5).eval()
    torch.save(model.state_dict(), path)
    return model


def _convert(*args: str) -> subprocess.CompletedProcess:
    """tools/convert_checkpoint.py as a real process."""
    return subprocess.run([sys.executable, "tools/convert_checkpoint.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_convert_refuses_an_unstated_head_count_of_an_unknown_width(tmp_path):
    """Embed dim 64 with 4 heads used to be written with 1 head (64 // 64) and exit status 0."""
    src = _plain_state_dict(tmp_path / "plain.pth", embed_dim=64, num_heads=4)
    out = tmp_path / "out.pyth"
    proc = _convert(str(tmp_path / "plain.pth"), str(out), "--to", "timesformer")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--num-heads" in proc.stderr and "plain.pth" in proc.stderr and "64" in proc.stderr
    assert not out.exists()
    proc = _convert(str(tmp_path / "plain.pth"), str(out), "--to", "timesformer", "--num-heads", "4")
    assert proc.returncode == 0, proc.stderr
    model = from_pretrained(str(out)).eval()  # the count is recorded in the file
    assert model.model.blocks[0].attn.num_heads == 4
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), src(x), atol=1e-5, rtol=0)


def test_a_head_count_that_does_not_divide_the_width_is_refused(tmp_path):
    _plain_state_dict(tmp_path / "plain.pth", embed_dim=64, num_heads=4)
    proc = _convert(str(tmp_path / "plain.pth"), str(tmp_path / "out.pyth"), "--to", "pyth", "--num-heads", "3")
    assert proc.returncode == 2 and "--num-heads" in proc.stderr and "64" in proc.stderr
    assert not (tmp_path / "out.pyth").exists()


def test_a_preset_width_takes_the_presets_heads(tmp_path, caplog):
    _plain_state_dict(tmp_path / "small.pth", embed_dim=384, num_heads=6)
    w = read_source(str(tmp_path / "small.pth"))
    with caplog.at_level(logging.INFO, logger="timesformer"):
        assert w.model_kwargs()["num_heads"] == 6
    assert "vit_small_patch16" in caplog.text
    proc = _convert(str(tmp_path / "small.pth"), str(tmp_path / "hf"), "--to", "hf")
    assert proc.returncode == 0, proc.stderr
    assert from_pretrained(str(tmp_path / "hf")).model.blocks[0].attn.num_heads == 6


def test_from_pretrained_refuses_too_and_takes_num_heads(tmp_path):
    src = _plain_state_dict(tmp_path / "plain.pth", embed_dim=64, num_heads=4)
    with pytest.raises(HeadsUnknownError, match="--num-heads"):
        from_pretrained(str(tmp_path / "plain.pth"))
    model = from_pretrained(str(tmp_path / "plain.pth"), num_heads=4).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), src(x), atol=1e-5, rtol=0)
