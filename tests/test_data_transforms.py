"""Transforms on uint8 clips, normalisation, RandAugment consistency and video mixup."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from timesformer.data import normalize
from timesformer.data.transforms import (
    crop_offsets,
    eval_transform,
    rand_augment,
    random_erase,
    resize_short_side,
    train_transform,
)


def _clip(t=4, h=48, w=64):
    return torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8)  # (T, C, H, W)


def test_resize_short_side_keeps_aspect():
    assert resize_short_side(_clip(h=48, w=64), 24).shape[-2:] == (24, 32)
    assert resize_short_side(_clip(h=64, w=48), 24).shape[-2:] == (32, 24)


def test_three_crops_landscape_and_portrait():
    assert [crop_offsets(32, 48, 32, p) for p in range(3)] == [(0, 0), (0, 8), (0, 16)]
    assert [crop_offsets(48, 32, 32, p) for p in range(3)] == [(0, 0), (8, 0), (16, 0)]
    clip = torch.arange(48, dtype=torch.uint8).view(1, 1, 1, 48).expand(2, 3, 32, 48)
    out = [eval_transform(clip, 32, 32, p) for p in range(3)]
    assert out[0].shape == (3, 2, 32, 32)
    assert [int(o[0, 0, 0, 0]) for o in out] == [0, 8, 16]  # left, centre, right columns


def test_train_transform_shape_and_flip():
    rng = np.random.default_rng(0)
    out = train_transform(_clip(), [36, 44], 32, True, rng)
    assert out.shape == (3, 4, 32, 32) and out.dtype == torch.uint8
    ramp = torch.arange(64, dtype=torch.uint8).view(1, 1, 1, 64).expand(4, 3, 48, 64).contiguous()
    firsts = {int(train_transform(ramp, [48, 48], 48, True, rng)[0, 0, 0, 0]) for _ in range(20)}
    assert any(f >= 16 for f in firsts) and any(f < 16 for f in firsts)  # mirrored sometimes
    no_flip = {int(train_transform(ramp, [48, 48], 48, False, rng)[0, 0, 0, 0]) for _ in range(20)}
    assert max(no_flip) <= 16


def test_rand_augment_same_ops_on_every_frame():
    frame = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    clip = frame.expand(4, 3, 32, 32).contiguous()
    rng = np.random.default_rng(0)
    changed = False
    for _ in range(5):
        out = rand_augment(clip, "rand-m9-n2-mstd0.5", rng)
        assert out.shape == clip.shape
        assert all(torch.equal(out[0], out[t]) for t in range(4))
        changed |= not torch.equal(out, clip)
    assert changed


def test_random_erase_same_box_in_all_frames():
    clip = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    out = random_erase(clip, 1.0, np.random.default_rng(1))
    mask = (out != 0).any(1)  # (T, H, W)
    assert mask[0].any() and all(torch.equal(mask[0], mask[t]) for t in range(4))


def test_normalize_values_and_shape():
    frames = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 2, 1, 1).expand(2, 3, 2, 4, 4)
    out = normalize(frames, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    assert out.dtype == torch.float32 and out.shape == (2, 3, 2, 4, 4)
    assert out[0, 0, 0, 0, 0].item() == pytest.approx(-2.0) and out[0, 0, 1, 0, 0].item() == pytest.approx(2.0)


def test_video_mixup_mixes_whole_clips():
    from timesformer.config import get_cfg
    from timesformer.data import build_mixup

    cfg = get_cfg()
    assert build_mixup(cfg) is None
    cfg.MIXUP.ENABLE, cfg.MIXUP.ALPHA, cfg.MIXUP.CUTMIX_ALPHA = True, 0.0, 1.0
    cfg.MODEL.NUM_CLASSES = 5
    mix = build_mixup(cfg)
    x = torch.stack([torch.zeros(3, 4, 16, 16), torch.ones(3, 4, 16, 16)])  # (B, C, T, H, W)
    out, target = mix(x.clone(), torch.tensor([0, 1]))
    assert out.shape == x.shape and target.shape == (2, 5)
    assert torch.allclose(target.sum(1), torch.ones(2))
    mask = out[0] != 0  # the CutMix box is the same in every channel and frame
    assert all(torch.equal(mask[0, 0], mask[c, t]) for c in range(3) for t in range(4))


@pytest.mark.parametrize("native", [True, False])  # torch's own uint8 kernel (AVX2, ARM) or through float32
def test_resize_gives_torchvisions_pixels(native, monkeypatch):
    from torchvision.transforms.v2 import functional as TF
    from torchvision.transforms.v2.functional import _geometry

    from timesformer.data import transforms

    monkeypatch.setattr(transforms, "_native_uint8_bilinear", lambda frames: native)
    monkeypatch.setattr(_geometry, "_do_native_uint8_resize_on_cpu", lambda interpolation: native)
    g = torch.Generator().manual_seed(0)
    for shape, size in [((8, 3, 256, 340), (224, 298)), ((4, 3, 120, 160), (256, 341)), ((3, 33, 47), (20, 31))]:
        frames = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
        for x in (frames, frames.float()):
            assert torch.equal(transforms.resize(x, *size), TF.resize(x, list(size), antialias=True)), (shape, x.dtype)


def test_the_data_package_imports_no_torchvision():
    # torchvision.transforms.v2 pulls in its model zoo and torch._dynamo: seconds at every start-up
    code = "import sys, timesformer.data; assert 'torchvision' not in sys.modules, 'torchvision imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
