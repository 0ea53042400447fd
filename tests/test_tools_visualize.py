"""Attention rollout (all five schemes) against a dense reference, overlays, and the visualize tool."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.checkpoints import install_fake_hub, kinetics_test_set, tiny_checkpoint
from tests.conftest import TINY, load_tool
from tests.videos import write_video
from timesformer.models import SCHEMES, TimeSformer
from timesformer.visualize import attention_rollout, make_grid, normalize_maps, overlay, save_animation
from timesformer.visualize.rollout import fuse_heads


def _tiny(scheme: str, **kw) -> TimeSformer:
    model = TimeSformer(**{**TINY, "attention_type": scheme, **kw}).eval()
    with torch.no_grad():  # non-zero *_fc so that every step changes the tokens
        for name, p in model.named_parameters():
            if "_fc" in name or "time_embed" in name:
                p.normal_(0, 0.2)
    return model


def _dense_step(a: torch.Tensor, grouping, grid, last: bool, b: int) -> torch.Tensor:
    """The (B, 1+N*T, 1+N*T) token-mixing matrix (I + A) / 2 of one step, built entry by entry."""
    n_tok = grid[0] * grid[1] * grid[2]
    idx = grouping.group(torch.arange(n_tok).repeat(b, 1)[..., None].float(), grid)[..., 0].long()
    groups = idx.shape[0] // b
    mat = torch.zeros(b, 1 + n_tok, 1 + n_tok, dtype=torch.float64)
    for g in range(idx.shape[0]):
        clip, tok = g // groups, 1 + idx[g]
        if last:  # [CLS; group]: patches attend to the CLS copy; the CLS row is averaged over groups
            mat[clip, tok[:, None], tok[None, :]] = a[g, 1:, 1:]
            mat[clip, tok, 0] = a[g, 1:, 0]
            mat[clip, 0, 0] += a[g, 0, 0] / groups
            mat[clip, 0, tok] = a[g, 0, 1:] / groups
        else:
            mat[clip, tok[:, None], tok[None, :]] = a[g]
            mat[clip, 0, 0] = 1.0
    return 0.5 * (torch.eye(1 + n_tok, dtype=torch.float64) + mat)


def _dense_rollout(maps, scheme, t, h, w, b):
    grid = (1, h, w) if scheme.frame_batched else (t, h, w)
    batch = b * t if scheme.frame_batched else b
    total = torch.eye(1 + grid[0] * h * w, dtype=torch.float64).repeat(batch, 1, 1)
    for block in maps:
        for step in scheme.steps:
            total = _dense_step(fuse_heads(block[step.name].double()), step.grouping, grid, False, batch) @ total
        last = scheme.last
        total = _dense_step(fuse_heads(block[last.name].double()), last.grouping, grid, True, batch) @ total
    return total[:, 0, 1:]  # the CLS row, over the input patches


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_rollout_matches_dense_matrix_product(scheme):
    model = _tiny(scheme)
    clip = torch.randn(2, 3, 4, 32, 32)  # (B, C, T, H, W), a 4x4 patch grid
    out = attention_rollout(model, clip)
    assert out["rollout"].shape == (2, 4, 4, 4) and out["per_frame"].shape == (2, 4)
    assert torch.allclose(out["logits"], model(clip), atol=1e-5)
    _, maps = model(clip, return_attention=True)
    dense = _dense_rollout(maps, model.model.scheme, 4, 4, 4, 2)  # (B', N*T') in token order
    if model.model.scheme.frame_batched:  # (B*T, N) -> (B, T, H', W'), frames averaged
        expected = dense.view(2, 4, 4, 4) / 4
    else:  # token 1 + n*T + t
        expected = dense.view(2, 4, 4, 4).permute(0, 3, 1, 2)
    assert torch.allclose(out["rollout"].double(), expected, atol=1e-6)
    r = out["rollout"]
    assert (r >= 0).all() and (r.sum(dim=(1, 2, 3)) <= 1 + 1e-5).all() and (r.sum(dim=(1, 2, 3)) > 0.01).all()


def test_joint_rollout_is_the_plain_vit_rollout():
    """joint_space_time is one ViT attention over all tokens: classic rollout on the raw matrices."""
    model = _tiny("joint_space_time")
    clip = torch.randn(1, 3, 4, 32, 32)
    _, maps = model(clip, return_attention=True)
    total = torch.eye(65, dtype=torch.float64)
    for block in maps:
        total = 0.5 * (torch.eye(65) + block["joint"][0].double().mean(0)) @ total
    expected = total[0, 1:].view(4, 4, 4).permute(2, 0, 1)  # token order h w t -> (T, H', W')
    assert torch.allclose(attention_rollout(model, clip)["rollout"][0].double(), expected, atol=1e-6)


def test_overlay_grid_and_animations(tmp_path):
    frames = np.zeros((3, 16, 24, 3), np.uint8)
    heat = np.zeros((3, 2, 3), np.float32)
    heat[1, 0, 0] = 1.0  # hot top-left corner in frame 1 only
    out = overlay(frames, heat, alpha=0.5)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert out[1, 0, 0].sum() > out[0, 0, 0].sum() and out[1, 0, 0, 0] > out[1, 0, 0, 2]  # red-ish
    assert (out[0] == out[2]).all()
    grid = make_grid([frames, out], labels=["a", "b", "c"])
    assert grid.size == (3 * 26 + 2, 2 * 18 + 2)
    gif = save_animation(out, str(tmp_path / "a.gif"))
    with Image.open(gif) as im:
        assert im.n_frames == 3
    mp4 = save_animation(out, str(tmp_path / "a.mp4"))
    import av
    with av.open(mp4) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3
    with pytest.raises(ValueError, match=".gif or .mp4"):
        save_animation(out, str(tmp_path / "a.avi"))
    norm = normalize_maps(torch.rand(2, 3, 2, 2) * 5)
    assert torch.allclose(norm.flatten(1).max(1).values, torch.ones(2))


def _visualize(argv) -> int:
    """tools/visualize_attention.py's main."""
    return load_tool("visualize_attention").main(argv)


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_visualize_attention_tool(tmp_path, capsys, scheme):
    video = write_video(tmp_path / "clip.mp4", num_frames=40, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["TIMESFORMER.ATTENTION_TYPE", scheme])
    fmt = "mp4" if scheme == "axial" else "gif"
    rc = _visualize([str(video), "--weights", str(ckpt), "--out", str(tmp_path / "vis"), "--device", "cpu",
                     "--format", fmt])
    assert rc == 0 and scheme in capsys.readouterr().out
    heat = np.load(tmp_path / "vis" / "clip_rollout.npy")
    assert heat.shape == (4, 4, 4) and heat.min() == 0 and abs(heat.max() - 1) < 1e-6  # (T, H', W')
    with Image.open(tmp_path / "vis" / "clip_attention.png") as png:  # 4 frames of 32 px drawn at 128
        assert png.size[0] == 4 * 130 + 2 and png.size[1] > 2 * 130 + 2  # frames above overlays, title, labels
    if fmt == "gif":
        with Image.open(tmp_path / "vis" / "clip_attention.gif") as gif:
            assert gif.n_frames == 4 and gif.size == (64, 32)  # frame and overlay side by side
    else:
        assert (tmp_path / "vis" / "clip_attention.mp4").stat().st_size > 0
    assert _visualize([str(video), "--weights", str(ckpt), "--clip", "99"]) == 2


def test_visualize_decodes_only_the_chosen_clip(tmp_path, monkeypatch, capsys):
    from timesformer.data import decoding
    from timesformer.inference import load_predictor, video_clips

    video = write_video(tmp_path / "clip.mp4", num_frames=90, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    plan = video_clips(str(video), load_predictor(str(ckpt), device="cpu").cfg, timeline=True)[0].plan
    reads, read_frames = [], decoding.read_frames
    monkeypatch.setattr(decoding, "read_frames", lambda path, idx, *a, **kw: reads.append(list(idx)) or
                        read_frames(path, idx, *a, **kw))
    assert _visualize([str(video), "--weights", str(ckpt), "--out", str(tmp_path / "v"), "--device", "cpu",
                       "--clip", "3"]) == 0
    assert len(plan) == 12 and reads == [[max(plan[-1])], plan[3]]  # the furthest frame, then clip 3
    assert "window 3 " in capsys.readouterr().out


def test_visualize_weights_it_cannot_fetch_is_a_one_line_error(tmp_path, monkeypatch, capsys):

    video = write_video(tmp_path / "clip.mp4", num_frames=8, fps=30)
    install_fake_hub(monkeypatch, tmp_path)
    assert _visualize([str(video), "--weights", "owner/missing", "--out", str(tmp_path / "v")]) == 2
    assert capsys.readouterr().err.startswith("error: could not fetch 'owner/missing' from the Hugging Face hub")


def test_visualize_defaults_to_the_test_protocols_clip(tmp_path, monkeypatch, capsys):
    """Without --clip the map is of the clip the test protocol scores (Kinetics: the middle one,
    frames 7, 15, 23, 31 of 40), not a clip of mostly repeated last frames; --clip K is window K of
    predict.py --timeline."""
    from timesformer.data import decoding

    video, ckpt = kinetics_test_set(tmp_path)
    reads, read_frames = [], decoding.read_frames
    monkeypatch.setattr(decoding, "read_frames", lambda path, idx, *a, **kw: reads.append(list(idx)) or
                        read_frames(path, idx, *a, **kw))
    assert _visualize([str(video), "--weights", str(ckpt), "--out", str(tmp_path / "v"), "--device", "cpu"]) == 0
    assert reads[-1] == [7, 15, 23, 31]
    assert "middle clip, 0.23-1.07 s" in capsys.readouterr().out
    reads.clear()
    assert _visualize([str(video), "--weights", str(ckpt), "--out", str(tmp_path / "v"), "--device", "cpu",
                       "--clip", "1"]) == 0
    assert reads[-1] == [15, 23, 31, 39] and "window 1 (0.50-1.33 s)" in capsys.readouterr().out
