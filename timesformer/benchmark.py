"""Throughput of a model's training or inference step: clips/s, model FLOPs utilisation, peak memory.

The same step runs our TimeSformer and, as the baseline, transformers' ``TimesformerForVideoClassification``
built with the same shapes. FLOPs per clip follow the paper's convention (fvcore: one multiply-add
counts 1); MFU counts a multiply-add as 2 FLOPs and a training step as 3 forward passes.
"""
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timesformer.utils.amp import autocast

# Dense bf16 tensor-core peak (TFLOP/s, a multiply-add = 2 FLOPs) by device-name substring.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
# transformers' Timesformer implements these of our schemes; the others have no baseline there (its
# space_only never averages over frames: it returns one prediction per frame, so it is no baseline).
HF_SCHEMES = ("divided_space_time", "joint_space_time")


@dataclass
class Result:
    """One measured configuration."""

    name: str
    mode: str
    batch: int
    steps: int
    seconds: float
    clips_per_s: float
    step_ms: float
    peak_mem_gib: Optional[float]
    flops_per_clip: Optional[float]  # forward, multiply-add = 1 (the paper's convention)
    achieved_tflops: Optional[float]  # multiply-add = 2, training = 3 forward passes
    mfu: Optional[float]  # achieved / peak

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def peak_tflops(device: torch.device, override: Optional[float] = None) -> Optional[float]:
    """The device's dense bf16 peak in TFLOP/s: ``override``, else the table by GPU name, else None."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


class HFTimesformer(nn.Module):
    """transformers' TimesformerForVideoClassification taking its native ``(B, T, C, H, W)`` clip."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.hf(pixel_values=pixel_values).logits


def build_hf_baseline(kwargs: Dict[str, Any]) -> nn.Module:
    """transformers' model with the shapes of our model kwargs (randomly initialised)."""
    scheme = kwargs["attention_type"]
    if scheme not in HF_SCHEMES:
        raise ValueError(f"transformers' Timesformer has no {scheme!r} attention; it implements "
                         f"{list(HF_SCHEMES)}, so there is no baseline to compare with")
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    dim = kwargs["embed_dim"]
    config = TimesformerConfig(
        image_size=kwargs["img_size"], patch_size=kwargs["patch_size"], num_frames=kwargs["num_frames"],
        hidden_size=dim, num_hidden_layers=kwargs["depth"], num_attention_heads=kwargs["num_heads"],
        intermediate_size=int(dim * kwargs["mlp_ratio"]), layer_norm_eps=1e-6, qkv_bias=True,
        attention_type=scheme, num_labels=kwargs["num_classes"])
    # Same stochastic depth as ours; set past the config's validation, which types it as an int.
    object.__setattr__(config, "drop_path_rate", float(kwargs.get("drop_path_rate", 0.0)))
    return HFTimesformer(TimesformerForVideoClassification(config))


def make_optimizer(model: nn.Module, fused: bool) -> torch.optim.Optimizer:
    """AdamW; ``fused`` uses the single-kernel implementation (CUDA), else torch's default."""
    if fused:
        return torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=True)
    return torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, clip: Tensor, labels: Tensor,
               amp: str = "none") -> Callable[[], None]:
    """A closure running one forward (autocast to precision ``amp``), cross-entropy, backward and
    optimizer step."""
    def step() -> None:
        with autocast(clip.device, amp):
            loss = F.cross_entropy(model(clip).float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def infer_step(model: nn.Module, clip: Tensor, amp: str = "none") -> Callable[[], None]:
    """A closure running one forward pass without autograd (autocast to precision ``amp``)."""
    def step() -> None:
        with torch.inference_mode(), autocast(clip.device, amp):
            model(clip)
    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], None], device: torch.device, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` untimed ones (compilation included there)."""
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return time.perf_counter() - start


def measure(name: str, model: nn.Module, clip: Tensor, mode: str, *, steps: int = 10, warmup: int = 3,
            amp: str = "none", fused_optimizer: bool = False,
            flops_per_clip: Optional[float] = None, peak: Optional[float] = None,
            num_classes: int = 400) -> Result:
    """Time ``mode`` ('train' or 'infer') of ``model`` on ``clip`` and summarise it as a Result."""
    if mode not in ("train", "infer"):
        raise ValueError(f"mode must be 'train' or 'infer', got {mode!r}")
    device, batch = clip.device, clip.shape[0]
    model.train(mode == "train")
    if mode == "train":
        labels = torch.randint(0, num_classes, (batch,), device=device)
        step = train_step(model, make_optimizer(model, fused_optimizer), clip, labels, amp)
    else:
        step = infer_step(model, clip, amp)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    seconds = time_steps(step, device, steps, warmup)
    mem = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None
    clips_per_s = batch * steps / seconds
    tflops = mfu = None
    if flops_per_clip:
        tflops = 2 * flops_per_clip * (3 if mode == "train" else 1) * clips_per_s / 1e12
        mfu = tflops / peak if peak else None
    return Result(name, mode, batch, steps, seconds, clips_per_s, 1000 * seconds / steps, mem,
                  flops_per_clip, tflops, mfu)


def format_result(r: Result, baseline: Optional[Result] = None) -> str:
    """One human-readable line for a Result (and its ratio to ``baseline``)."""
    mem = f"{r.peak_mem_gib:.2f} GiB" if r.peak_mem_gib is not None else "n/a"
    mfu = f"{100 * r.mfu:.1f}%" if r.mfu is not None else "n/a"
    tfl = f"{r.achieved_tflops:.3g} TFLOP/s" if r.achieved_tflops is not None else "n/a"
    line = (f"{r.name:<28} {r.mode:<5} batch {r.batch:<3} {r.clips_per_s:9.2f} clips/s "
            f"{r.step_ms:9.1f} ms/step  {tfl}  MFU {mfu}  peak memory {mem}")
    if baseline is not None:
        line += f"  ratio {r.clips_per_s / baseline.clips_per_s:.2f}x"
    return line
