"""The fast path: SDPA by default, equal to a straightforward implementation, memory linear in tokens."""
from functools import partial
from typing import List

import pytest
import torch
import torch._dynamo
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

from tests.conftest import TINY
from timesformer.config import get_cfg
from timesformer.models import SCHEMES, VisionTransformer, build_model
from timesformer.models.attention import Attention, Block


def tiny(scheme: str, **kw) -> VisionTransformer:
    args = dict(TINY, attention_type=scheme, drop_path_rate=0.0)
    args.update(kw)
    model = VisionTransformer(**args)
    for name, p in model.named_parameters():  # every zero-initialised step contributes
        if "_fc." in name or name.endswith("time_embed"):
            nn.init.normal_(p, std=0.2)
    return model


class OpRecorder(TorchDispatchMode):
    """Records the name of every aten op that runs."""

    def __init__(self):
        super().__init__()
        self.ops: List[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.name())
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_default_forward_runs_sdpa_and_no_explicit_softmax(scheme):
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.EMBED_DIM", 32, "MODEL.DEPTH", 2, "MODEL.NUM_HEADS", 2, "MODEL.PATCH_SIZE", 8,
                         "DATA.NUM_FRAMES", 4, "DATA.TRAIN_CROP_SIZE", 32, "TIMESFORMER.ATTENTION_TYPE", scheme])
    model = build_model(cfg)  # what training builds, in training mode
    with OpRecorder() as rec:
        model(torch.randn(1, 3, 4, 32, 32)).sum().backward()
    sdpa = [op for op in rec.ops if "scaled_dot_product" in op and "backward" not in op]
    assert len(sdpa) == 2 * (len(SCHEMES[scheme].steps) + 1), sdpa
    assert not [op for op in rec.ops if "softmax" in op], "the default path ran an explicit softmax"
    with OpRecorder() as rec:  # the explicit path really is different (it is what attention maps use)
        model(torch.randn(1, 3, 4, 32, 32), return_attention=True)
    assert any("softmax" in op for op in rec.ops)


def naive_attention(attn: Attention, x: Tensor) -> Tensor:
    """Multi-head attention written out: (B, L, D) -> (B, L, D)."""
    b, n, d = x.shape
    h = attn.num_heads
    q, k, v = (t.reshape(b, n, h, d // h).transpose(1, 2) for t in attn.qkv(x).split(d, dim=-1))
    w = (q @ k.transpose(-2, -1) / (d // h) ** 0.5).softmax(dim=-1)  # (B, heads, L, L)
    return attn.proj((w @ v).transpose(1, 2).reshape(b, n, d))


def naive_divided_block(blk: Block, x: Tensor, t: int) -> Tensor:
    """The divided dataflow (timesformer/models/attention.py) step by step, one patch position / one frame at a time."""
    b, _, d = x.shape
    cls, p = x[:, :1], x[:, 1:].reshape(b, -1, t, d)  # (B, 1, D), (B, N, T, D)
    xt = torch.stack([p[:, n] + blk.temporal_fc(naive_attention(blk.temporal_attn, blk.temporal_norm1(p[:, n])))
                      for n in range(p.shape[1])], dim=1)  # (B, N, T, D)
    res = torch.stack([naive_attention(blk.attn, blk.norm1(torch.cat([cls, xt[:, :, f]], dim=1)))
                       for f in range(t)], dim=1)  # (B, T, 1 + N, D)
    res_cls = res[:, :, 0].mean(dim=1, keepdim=True)
    res_p = res[:, :, 1:].transpose(1, 2).reshape(b, -1, d)
    x = torch.cat([cls, xt.reshape(b, -1, d)], dim=1) + torch.cat([res_cls, res_p], dim=1)
    return x + blk.mlp(blk.norm2(x))


def naive_joint_block(blk: Block, x: Tensor, t: int) -> Tensor:
    """Plain ViT block over all tokens."""
    x = x + naive_attention(blk.attn, blk.norm1(x))
    return x + blk.mlp(blk.norm2(x))


@pytest.mark.parametrize("scheme,naive_block", [("divided_space_time", naive_divided_block),
                                                ("joint_space_time", naive_joint_block)])
def test_fast_path_equals_straightforward_implementation(scheme, naive_block):
    model = tiny(scheme).train()  # training mode; no dropout or drop path configured
    x = torch.randn(2, 3, 4, 32, 32)
    tokens, (t, _, _) = model.embed(x)
    for blk in model.blocks:
        tokens = naive_block(blk, tokens, t)
    ref = model.head(model.norm(tokens)[:, 0])
    fast = model(x)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    params = [p for _, p in model.named_parameters()]
    g_fast = torch.autograd.grad(fast.square().sum(), params)
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    for (name, _), a, b in zip(model.named_parameters(), g_fast, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")


def peak_cpu_bytes(fn) -> int:
    """Peak of live CPU memory allocated by the ops run in ``fn`` (torch profiler's memory events)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    live = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += e.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


def test_joint_attention_memory_stays_linear_in_tokens():
    model = tiny("joint_space_time", depth=1).eval()
    peaks = {}
    for frames in (64, 128):  # 1 + 16*T tokens: 1025 and 2049
        x = torch.randn(1, 3, frames, 32, 32)
        with torch.no_grad():
            peaks[frames] = (peak_cpu_bytes(partial(model, x)),
                             peak_cpu_bytes(partial(model, x, return_attention=True)))
    length = 1 + 16 * 128
    one_matrix = length * length * 4  # a single head's fp32 attention matrix
    (fast_short, explicit_short), (fast_long, explicit_long) = peaks[64], peaks[128]
    assert fast_long < one_matrix / 2, (fast_long, one_matrix)
    assert fast_long < 2.5 * fast_short, "fast path memory grows faster than the token count"
    # The same measurement catches a path that materialises the matrix: it grows quadratically.
    assert explicit_long > one_matrix and explicit_long > 3.5 * explicit_short, (explicit_short, explicit_long)


@pytest.mark.parametrize("scheme", ["divided_space_time", "sparse_local_global", "axial"])
def test_whole_model_compiles_as_one_graph(scheme):
    """A graph break splits torch.compile's graph (and let drop-path rates recompile per block)."""
    torch._dynamo.reset()
    model = tiny(scheme, drop_path_rate=0.1).train()
    explanation = torch._dynamo.explain(model)(torch.randn(2, 3, 4, 32, 32))
    assert explanation.graph_break_count == 0, [str(r.reason)[:200] for r in explanation.break_reasons]
    assert explanation.graph_count == 1
