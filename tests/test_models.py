"""The model: every scheme runs, learns, matches its reference and has the paper's sizes."""
import re

import pytest
import torch
from einops import rearrange
from torch import nn

from tests.conftest import TINY
from timesformer.models import SCHEMES, TimeSformer, VisionTransformer
from timesformer.models.attention import ALL, COLUMN, FRAME, ROW, STRIDED, TIME, WINDOW, Grouping

SCHEME_NAMES = list(SCHEMES)


def tiny(scheme: str, **kw) -> VisionTransformer:
    args = dict(TINY, attention_type=scheme, drop_path_rate=0.0)
    args.update(kw)
    return VisionTransformer(**args)


def randomise_zero_inits(model: nn.Module) -> None:
    """Give every zero-initialised *_fc and time_embed random values, so every step contributes."""
    for name, p in model.named_parameters():
        if "_fc." in name or name.endswith("time_embed"):
            nn.init.normal_(p, std=0.2)


def clip(b: int = 2, t: int = 4, size: int = 32) -> torch.Tensor:
    return torch.randn(b, 3, t, size, size)


@pytest.mark.parametrize("scheme", SCHEME_NAMES)
def test_forward_backward_reaches_every_parameter(scheme):
    model = tiny(scheme)
    randomise_zero_inits(model)
    out = model(clip())
    assert out.shape == (2, TINY["num_classes"])
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


@pytest.mark.parametrize("scheme", SCHEME_NAMES)
def test_sdpa_equals_explicit_softmax(scheme):
    model = tiny(scheme).eval()
    randomise_zero_inits(model)
    x = clip()
    with torch.no_grad():
        fast = model(x)
        ref, maps = model(x, return_attention=True)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    steps = [s.name for s in SCHEMES[scheme].steps] + [SCHEMES[scheme].last.name]
    assert len(maps) == TINY["depth"] and all(list(m) == steps for m in maps)
    for weights in maps[0].values():  # (B*G, heads, L, L), rows are distributions
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


# ViT-B/16 at 8x224 (the paper's Table 1): parameters with 174 and with 400 classes.
PAPER_PARAMS = {
    "space_only": (85.932, 86.106),
    "joint_space_time": (85.939, 86.112),
    "divided_space_time": (121.393, 121.566),
    "sparse_local_global": (121.393, 121.566),
    "axial": (156.847, 157.020),
}


@pytest.mark.parametrize("scheme", SCHEME_NAMES)
def test_vit_base_parameter_counts(scheme):
    for classes, expected in zip((174, 400), PAPER_PARAMS[scheme], strict=True):
        with torch.device("meta"):
            model = TimeSformer(img_size=224, num_classes=classes, num_frames=8, attention_type=scheme)
        assert round(sum(p.numel() for p in model.parameters()) / 1e6, 3) == expected


def test_released_key_names():
    with torch.device("meta"):
        keys = set(TimeSformer(attention_type="divided_space_time").state_dict())
    expected = {"model.cls_token", "model.pos_embed", "model.time_embed", "model.patch_embed.proj.weight",
                "model.norm.weight", "model.head.bias"}
    for part in ("norm1", "attn.qkv", "attn.proj", "temporal_norm1", "temporal_attn.qkv",
                 "temporal_attn.proj", "temporal_fc", "norm2", "mlp.fc1", "mlp.fc2"):
        expected |= {f"model.blocks.11.{part}.weight", f"model.blocks.11.{part}.bias"}
    assert expected <= keys
    assert len(keys) == 3 + 2 + 2 + 2 + 12 * 20  # embeddings, patch_embed, norm, head, blocks


def test_reference_readme_snippet():
    model = TimeSformer(img_size=224, num_classes=400, num_frames=8, attention_type="divided_space_time",
                        pretrained_model="")
    with torch.no_grad():
        assert model(torch.randn(2, 3, 8, 224, 224)).shape == (2, 400)


def test_zero_init_steps_and_time_embed():
    model = tiny("axial")
    assert torch.count_nonzero(model.time_embed) == 0
    for blk in model.blocks:  # every block, not only the later ones
        for fc in (blk.temporal_fc, blk.width_fc):
            assert torch.count_nonzero(fc.weight) == 0 and torch.count_nonzero(fc.bias) == 0


# ---------------------------------------------------------------- neighbourhoods of each step
def only_step(block, keep: str) -> None:
    """Silence every step of ``block`` but ``keep`` (a step prefix, '' = the last step) and the MLP."""
    with torch.no_grad():
        for step in block.scheme.steps:
            if step.prefix != keep:
                getattr(block, f"{step.prefix}_fc").weight.zero_()
                getattr(block, f"{step.prefix}_fc").bias.zero_()
        if keep:
            block.attn.proj.weight.zero_()
            block.attn.proj.bias.zero_()
        block.mlp.fc2.weight.zero_()
        block.mlp.fc2.bias.zero_()


def changed_tokens(block, grid, batch_tokens: int, poke: int) -> set:
    """Indices of the output tokens that change when input token ``poke`` is perturbed."""
    torch.manual_seed(1)
    x = torch.randn(1 if batch_tokens == 1 else batch_tokens, 1 + grid[0] * grid[1] * grid[2], 16)
    y = x.clone()
    y[0, poke] += torch.randn(x.shape[-1])  # a constant shift would vanish in LayerNorm
    with torch.no_grad():
        diff = (block(y, grid) - block(x, grid)).abs().amax(-1)  # (B, tokens)
    return {int(i) for i in torch.nonzero(diff[0] > 1e-6).flatten()}


def token(h: int, w: int, t: int, grid) -> int:
    """Index of patch (h, w) in frame t: 1 + n*T + t, n = h*W' + w (timesformer/models/attention.py)."""
    T, H, W = grid
    return 1 + (h * W + w) * T + t


def tokens_where(grid, pred) -> set:
    T, H, W = grid
    return {token(h, w, t, grid) for h in range(H) for w in range(W) for t in range(T) if pred(h, w, t)}


GRID = (4, 4, 6)  # T, H', W'
H0, W0, T0 = 1, 3, 2  # the perturbed patch


def block_of(scheme: str):
    model = tiny(scheme, embed_dim=16, depth=1)
    randomise_zero_inits(model)
    for name, p in model.named_parameters():
        if "qkv.weight" in name:  # sharper attention: changes well above rounding noise
            nn.init.normal_(p, std=0.3)
    return model.blocks[0].eval()


@pytest.mark.parametrize("scheme,step,expected", [
    ("divided_space_time", "temporal", lambda h, w, t: (h, w) == (H0, W0)),
    ("divided_space_time", "", lambda h, w, t: t == T0),
    ("joint_space_time", "", lambda h, w, t: True),
    ("sparse_local_global", "local", lambda h, w, t: (h >= 2) == (H0 >= 2) and (w >= 3) == (W0 >= 3)),
    ("sparse_local_global", "", lambda h, w, t: (h % 2, w % 2, t % 2) == (H0 % 2, W0 % 2, T0 % 2)),
    ("axial", "temporal", lambda h, w, t: (h, w) == (H0, W0)),
    ("axial", "width", lambda h, w, t: (h, t) == (H0, T0)),
    ("axial", "", lambda h, w, t: (w, t) == (W0, T0)),
])
def test_step_neighbourhood(scheme, step, expected):
    block = block_of(scheme)
    only_step(block, step)
    changed = changed_tokens(block, GRID, 1, token(H0, W0, T0, GRID))
    want = tokens_where(GRID, expected)
    if step == "":  # the last step also updates the CLS token
        want.add(0)
    assert changed == want


def test_space_only_neighbourhood_is_its_frame():
    block = block_of("space_only")
    grid = (1, GRID[1], GRID[2])  # frames batched: one frame per sequence
    changed = changed_tokens(block, grid, GRID[0], poke=1 + H0 * GRID[2] + W0)
    assert changed == set(range(1 + GRID[1] * GRID[2]))  # its frame (and its CLS), nothing else


# ---------------------------------------------------------------- identical frames
def test_still_clip_from_an_image_vit_only_space_only_and_divided_are_the_vit():
    """A model initialised from an image ViT (new steps from its attn, ``*_fc`` and time_embed zero)
    on a still clip: space_only and divided compute the ViT exactly, the other three do not (the
    numbers in attention.py's docstring and MODEL_ZOO.md are this test's: seed 0)."""
    from timesformer.checkpoint import Weights
    from timesformer.models import load_pretrained

    vit = tiny("space_only").eval()  # the image ViT, run on every frame
    x = torch.randn(2, 3, 1, 32, 32).expand(-1, -1, 4, -1, -1).contiguous()
    with torch.no_grad():
        ref = vit.forward_features(x)
    diff = {}
    for scheme in SCHEME_NAMES:
        model = tiny(scheme).eval()
        load_pretrained(model, Weights(vit.state_dict(), "image_vit", "tiny ViT"), strict=False)
        with torch.no_grad():
            diff[scheme] = float((model.forward_features(x) - ref).abs().max())
    assert diff["space_only"] == 0 and diff["divided_space_time"] < 1e-5, diff
    assert min(diff[s] for s in ("joint_space_time", "sparse_local_global", "axial")) > 0.03, diff
    assert diff["axial"] > diff["sparse_local_global"] > diff["joint_space_time"], diff


# ---------------------------------------------------------------- any clip shape at inference
@pytest.mark.parametrize("scheme", SCHEME_NAMES)
def test_other_frame_counts_and_sizes(scheme):
    model = tiny(scheme).eval()
    randomise_zero_inits(model)
    with torch.no_grad():
        for t, size in ((8, 32), (2, 48), (6, 64)):
            assert model(clip(1, t, size)).shape == (1, TINY["num_classes"])


def test_resampled_embeddings_follow_the_input():
    model = tiny("divided_space_time")
    randomise_zero_inits(model)
    assert model.pos_embed_for(4, 4) is model.pos_embed
    assert model.pos_embed_for(6, 8).shape == (1, 1 + 48, TINY["embed_dim"])
    doubled = model.time_embed_for(8)
    torch.testing.assert_close(doubled[0, ::2], model.time_embed[0])  # nearest, as the reference


@pytest.mark.parametrize("scheme,t,size,match", [
    ("divided_space_time", 4, 30, "not divisible by the patch size 8"),
    ("sparse_local_global", 3, 32, "must all be even"),
    ("sparse_local_global", 4, 24, "must all be even"),
])
def test_shapes_a_model_cannot_take(scheme, t, size, match):
    with pytest.raises(ValueError, match=match):
        tiny(scheme)(clip(1, t, size))


def test_wrong_layout_is_explained():
    with pytest.raises(ValueError, match="transpose"):
        tiny("divided_space_time")(torch.randn(1, 4, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown attention_type 'divided'"):
        tiny("divided")


def test_activation_checkpointing_gives_the_same_gradients():
    model = tiny("divided_space_time")
    randomise_zero_inits(model)
    x = clip()
    grads = []
    for enable in (False, True):
        model.zero_grad()
        model.set_grad_checkpointing(enable)
        model(x).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_groupings_match_einops_and_invert():
    grid = (4, 6, 8)
    p = torch.randn(2, 6 * 8 * 4, 3)
    sizes = dict(h=6, w=8, t=4)
    halves = dict(h=3, w=4, t=2, h2=2, w2=2, t2=2)
    cases = [  # grouping, the einops pattern that says the same, its axis sizes
        (ALL, "b (h w t) d -> b (h w t) d", sizes),
        (TIME, "b (h w t) d -> (b h w) t d", sizes),
        (FRAME, "b (h w t) d -> (b t) (h w) d", sizes),
        (ROW, "b (h w t) d -> (b h t) w d", sizes),
        (COLUMN, "b (h w t) d -> (b w t) h d", sizes),
        (WINDOW, "b (h2 h w2 w t) d -> (b h2 w2) (h w t) d", dict(halves, t=4)),
        (STRIDED, "b (h h2 w w2 t t2) d -> (b h2 w2 t2) (h w t) d", halves),
    ]
    for grouping, pattern, axes in cases:
        out = grouping.group(p, grid)
        assert torch.equal(out, rearrange(p, pattern, **{k: v for k, v in axes.items() if k in pattern}))
        assert grouping.shape(grid) == (out.shape[0] // 2, out.shape[1])
        assert torch.equal(grouping.ungroup(out, grid), p)


@pytest.mark.parametrize("pattern", [  # any factor order and split reads the same as einops reads it
    "b (t w h) d -> (b t) (h w) d",
    "b (w2 w h t2 t) d -> (b t2 w) (h w2 t) d",
    "b (h h2 t w) d -> (b w h2) (t h) d",
])
def test_grouping_runs_its_pattern_as_einops_does(pattern):
    grid = (4, 6, 8)
    p = torch.randn(2, 6 * 8 * 4, 3)
    grouping = Grouping(pattern)
    sizes = grouping.sizes(grid)
    out = grouping.group(p, grid)
    assert torch.equal(out, rearrange(p, pattern, **sizes))
    assert grouping.shape(grid) == (out.shape[0] // 2, out.shape[1])
    assert torch.equal(grouping.ungroup(out, grid), p)


@pytest.mark.parametrize("pattern", [
    "b (h w t) d (b h w) t d",  # no arrow
    "b (h w) d -> (b h) w d",  # t missing
    "b (h w t) d -> (b h w) d",  # t dropped on the right
    "b (h w t x) d -> (b h w x) t d",  # an unknown factor
    "b (h h w t) d -> (b h h w) t d",  # a factor twice
    "(h w t) d -> (h w) t d",  # no batch
    "b (h w t) d -> (h w) (b t) d",  # batch not first among the group factors
])
def test_malformed_grouping_pattern_is_named(pattern):
    with pytest.raises(ValueError, match=re.escape(repr(pattern))):
        Grouping(pattern)
