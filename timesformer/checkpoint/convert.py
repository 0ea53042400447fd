"""Pure state-dict functions: key renaming between layouts, architecture inference, and adapting
a source state dict to a model (new attention steps, resampled embeddings, head) with a report.

The canonical layout here is :class:`timesformer.models.VisionTransformer`'s own keys, without the
wrapper's ``model.`` prefix (an image ViT from timm has the same names).
"""
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from torch import Tensor

logger = logging.getLogger(__name__)

StateDict = Dict[str, Tensor]

# Hugging Face (transformers' TimesformerForVideoClassification) <-> ours, per block and top level.
HF_BLOCK: Tuple[Tuple[str, str], ...] = (
    ("layernorm_before", "norm1"),
    ("attention.attention.qkv", "attn.qkv"),
    ("attention.output.dense", "attn.proj"),
    ("temporal_layernorm", "temporal_norm1"),
    ("temporal_attention.attention.qkv", "temporal_attn.qkv"),
    ("temporal_attention.output.dense", "temporal_attn.proj"),
    ("temporal_dense", "temporal_fc"),
    ("layernorm_after", "norm2"),
    ("intermediate.dense", "mlp.fc1"),
    ("output.dense", "mlp.fc2"),
)
HF_TOP: Tuple[Tuple[str, str], ...] = (
    ("timesformer.embeddings.cls_token", "cls_token"),
    ("timesformer.embeddings.position_embeddings", "pos_embed"),
    ("timesformer.embeddings.time_embeddings", "time_embed"),
    ("timesformer.embeddings.patch_embeddings.projection", "patch_embed.proj"),
    ("timesformer.layernorm", "norm"),
    ("classifier", "head"),
)
_HF_LAYER = "timesformer.encoder.layer."
# transformers' image ViT (ViTModel / ViTForImageClassification), the hub's names and transformers 5's.
HF_VIT_BLOCK: Tuple[Tuple[str, str], ...] = (
    ("attention.attention.query", "q"), ("attention.attention.key", "k"), ("attention.attention.value", "v"),
    ("attention.q_proj", "q"), ("attention.k_proj", "k"), ("attention.v_proj", "v"),
    ("attention.output.dense", "attn.proj"), ("attention.o_proj", "attn.proj"),
    ("layernorm_before", "norm1"), ("layernorm_after", "norm2"),
    ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2"),
)
HF_VIT_TOP: Tuple[Tuple[str, str], ...] = (
    ("embeddings.cls_token", "cls_token"), ("embeddings.position_embeddings", "pos_embed"),
    ("embeddings.patch_embeddings.projection", "patch_embed.proj"), ("layernorm", "norm"),
    ("classifier", "head"), ("pooler.dense", "pre_logits.fc"),
)
# timm ViT parts that change what the network computes and that TimeSformer blocks do not have.
_FUNCTIONAL_EXTRAS = ("norm_pre.", "fc_norm.", "reg_token", ".ls1.", ".ls2.", "q_norm.", "k_norm.",
                      "attn_pool.", "patch_embed.norm.")
_NEW_STEP = re.compile(r"^blocks\.(\d+)\.(temporal|local|width)_(norm1|attn)\.(.+)$")
_STEP_FC = re.compile(r"^blocks\.(\d+)\.(temporal|local|width)_fc\.(weight|bias)$")
_PREFIX_OF_SCHEME = (("width_", "axial"), ("local_", "sparse_local_global"),
                     ("temporal_", "divided_space_time"))


def _rename(key: str, pairs: Tuple[Tuple[str, str], ...], reverse: bool) -> Optional[str]:
    """Map ``key`` through (a, b) prefix pairs (a -> b, or b -> a when ``reverse``); None if none fits."""
    for a, b in pairs:
        src, dst = (b, a) if reverse else (a, b)
        if key == src or key.startswith(src + "."):
            return dst + key[len(src):]
    return None


def hf_to_vit(sd: Mapping[str, Tensor]) -> StateDict:
    """Hugging Face TimeSformer keys -> ours; an unknown key raises a ValueError naming it."""
    out: StateDict = {}
    for k, v in sd.items():
        if k.startswith(_HF_LAYER):
            n, rest = k[len(_HF_LAYER):].split(".", 1)
            new = _rename(rest, HF_BLOCK, reverse=False)
            new = None if new is None else f"blocks.{n}.{new}"
        else:
            new = _rename(k, HF_TOP, reverse=False)
        if new is None:
            raise ValueError(f"Hugging Face TimeSformer key {k!r} has no counterpart in timesformer; "
                             "is this a TimesformerForVideoClassification checkpoint?")
        out[new] = v
    return out


def vit_to_hf(sd: Mapping[str, Tensor]) -> StateDict:
    """Our keys -> Hugging Face TimeSformer keys; a key HF has no name for (e.g. axial's width_*)
    raises a ValueError."""
    out: StateDict = {}
    for k, v in sd.items():
        m = re.match(r"^blocks\.(\d+)\.(.+)$", k)
        new = _rename(m.group(2), HF_BLOCK, reverse=True) if m else _rename(k, HF_TOP, reverse=True)
        if new is None:
            raise ValueError(f"key {k!r} has no Hugging Face TimeSformer counterpart: transformers only "
                             "implements space_only, joint_space_time and divided_space_time; keep such a "
                             "model in our layout (--to timesformer) or the reference's (--to pyth)")
        out[f"{_HF_LAYER}{m.group(1)}.{new}" if m else new] = v
    return out


def is_hf_vit(sd: Mapping[str, Tensor]) -> bool:
    """True for transformers' image-ViT keys (``vit.embeddings...`` or ``embeddings.patch_embeddings...``)."""
    return any(k.startswith(("vit.embeddings.", "embeddings.patch_embeddings.")) for k in sd)


def hf_vit_to_vit(sd: Mapping[str, Tensor]) -> StateDict:
    """transformers' image ViT keys -> ours (separate query/key/value joined into ``qkv``)."""
    out: StateDict = {}
    qkv: Dict[Tuple[str, str], Dict[str, Tensor]] = {}
    for k, v in sd.items():
        key = k[len("vit."):] if k.startswith("vit.") else k
        m = re.match(r"^(?:encoder\.layer|layers)\.(\d+)\.(.+)$", key)
        new = _rename(m.group(2), HF_VIT_BLOCK, reverse=False) if m else _rename(key, HF_VIT_TOP, reverse=False)
        if new is None:
            raise ValueError(f"Hugging Face ViT key {k!r} has no counterpart in a TimeSformer")
        part, _, suffix = new.partition(".")
        if m and part in ("q", "k", "v"):
            qkv.setdefault((m.group(1), suffix), {})[part] = v
        else:
            out[f"blocks.{m.group(1)}.{new}" if m else new] = v
    for (n, suffix), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"Hugging Face ViT layer {n}: {suffix} of query/key/value incomplete ({sorted(parts)})")
        out[f"blocks.{n}.attn.qkv.{suffix}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def add_prefix(sd: Mapping[str, Tensor], prefix: str = "model.") -> StateDict:
    """Keys -> ``prefix + key`` (our wrapper's and the released .pyth files' layout)."""
    return {prefix + k: v for k, v in sd.items()}


def strip_prefixes(sd: Mapping[str, Tensor], prefixes: Tuple[str, ...] = ("module.", "model.")) -> StateDict:
    """Remove DDP's ``module.`` and the wrapper's ``model.`` prefixes when every key carries them."""
    out = dict(sd)
    for p in prefixes:
        if out and all(k.startswith(p) for k in out):
            out = {k[len(p):]: v for k, v in out.items()}
    return out


def attention_type_of(sd: Mapping[str, Tensor]) -> str:
    """The attention scheme a state dict (our keys) was trained with, read off its keys."""
    for prefix, scheme in _PREFIX_OF_SCHEME:
        if any(k.startswith("blocks.0." + prefix) for k in sd):
            return scheme
    return "joint_space_time" if "time_embed" in sd else "space_only"


def infer_architecture(sd: Mapping[str, Tensor]) -> Dict[str, Any]:
    """Model keyword arguments that the shapes of a state dict (our keys) determine.

    Everything but ``num_heads`` (and the LayerNorm eps) can be read off the tensors.
    """
    for key in ("patch_embed.proj.weight", "pos_embed", "blocks.0.mlp.fc1.weight"):
        if key not in sd:
            raise ValueError(f"not a ViT/TimeSformer state dict: key {key!r} is missing "
                             f"(found e.g. {sorted(sd)[:5]})")
    embed_dim, in_chans, patch, _ = sd["patch_embed.proj.weight"].shape
    n = sd["pos_embed"].shape[1] - 1
    grid = int(round(n ** 0.5))
    if grid * grid != n:
        raise ValueError(f"pos_embed has {n} patch positions, not a square grid; cannot infer the image size")
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    arch: Dict[str, Any] = dict(
        attention_type=attention_type_of(sd), patch_size=patch, in_chans=in_chans, embed_dim=embed_dim,
        img_size=grid * patch, depth=depth, mlp_ratio=sd["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
        qkv_bias="blocks.0.attn.qkv.bias" in sd,
        num_classes=sd["head.weight"].shape[0] if "head.weight" in sd else 0)
    if "time_embed" in sd:
        arch["num_frames"] = sd["time_embed"].shape[1]
    return arch


def resample_time_embed(time_embed: Tensor, num_frames: int) -> Tensor:
    """time_embed ``(1, T', D)`` -> ``(1, T, D)`` by nearest interpolation (as the model at runtime)."""
    return F.interpolate(time_embed.transpose(1, 2), size=num_frames, mode="nearest").transpose(1, 2)


@dataclass
class LoadReport:
    """What a load did to every weight: loaded as is, resampled, initialised from another key,
    left at the model's value (missing, with why) or ignored (unexpected, with why)."""

    source: str = ""
    layout: str = ""
    loaded: List[str] = field(default_factory=list)
    resampled: Dict[str, str] = field(default_factory=dict)
    initialised_from: Dict[str, str] = field(default_factory=dict)
    missing: Dict[str, str] = field(default_factory=dict)
    unexpected: Dict[str, str] = field(default_factory=dict)
    channel_order: str = ""  # rgb | bgr when the source states or implies the input it was trained on
    channel_order_note: str = ""

    def summary(self) -> str:
        """Multi-line human-readable account of the load (keys grouped by reason)."""
        lines = [f"loaded {self.source} ({self.layout}): {len(self.loaded)} tensors as is, "
                 f"{len(self.resampled)} resampled, {len(self.initialised_from)} initialised from "
                 f"other keys, {len(self.missing)} missing, {len(self.unexpected)} unexpected"]
        lines += [f"  resampled {k}: {why}" for k, why in self.resampled.items()]
        if self.initialised_from:
            first = next(iter(self.initialised_from))
            lines.append(f"  initialised new attention steps from the ViT's own: {len(self.initialised_from)} "
                         f"tensors (e.g. {first} <- {self.initialised_from[first]})")
        for title, table in (("missing", self.missing), ("unexpected", self.unexpected)):
            by_reason: Dict[str, List[str]] = {}
            for k, why in table.items():
                by_reason.setdefault(why, []).append(k)
            for why, keys in by_reason.items():
                more = f" and {len(keys) - 4} more" if len(keys) > 4 else ""
                lines.append(f"  {title} {', '.join(keys[:4])}{more}: {why}")
        if self.channel_order:
            lines.append(f"  input channel order: {self.channel_order} ({self.channel_order_note}); "
                         "DATA.INPUT_CHANNEL_ORDER follows it unless your config states it")
        return "\n".join(lines)


def _fit_embedding(key: str, v: Tensor, ref: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Resample pos_embed (2-D over the patch grid) or time_embed (1-D) to ``ref``'s shape."""
    if v.dim() != 3 or v.shape[-1] != ref.shape[-1]:
        raise ValueError(f"{key}: source shape {tuple(v.shape)}, model {tuple(ref.shape)} (the embedding "
                         "widths differ: the checkpoint belongs to another model size)")
    if key == "time_embed":
        return resample_time_embed(v, ref.shape[1])
    old = int(round((v.shape[1] - 1) ** 0.5))
    if old * old != v.shape[1] - 1:
        raise ValueError(f"pos_embed: {v.shape[1] - 1} source positions are not a square grid")
    return resample_abs_pos_embed(v, new_size=list(grid), old_size=[old, old], num_prefix_tokens=1)


def _check_functional_extras(src: Mapping[str, Tensor]) -> None:
    extras = sorted(k for k in src if any(p in "." + k for p in _FUNCTIONAL_EXTRAS))
    if extras:
        raise ValueError(f"the source network has layers TimeSformer does not have: {extras[:6]}"
                         f"{' ...' if len(extras) > 6 else ''}; its outputs could not be reproduced. "
                         "Use a plain ViT (class token, pre-norm blocks, final norm), e.g. timm's "
                         "vit_base_patch16_224.orig_in21k_ft_in1k")


def _missing_reason(key: str, src: Mapping[str, Tensor], head_note: str) -> Optional[str]:
    """Why a model key absent from the source may keep a zero/initial value, or None if it matters."""
    fc = _STEP_FC.match(key)
    if fc:  # zero only for a step the source lacks altogether (it starts as the ViT's attn, then adds 0)
        step = f"blocks.{fc.group(1)}.{fc.group(2)}_"
        return None if any(k.startswith(step) for k in src) else \
            "new attention step's output projection, zero-initialised"
    if key == "time_embed":
        return "zero-initialised (the source has no time embedding)"
    if key.startswith("head."):
        return head_note or "the source has no classifier head; randomly initialised"
    if key.endswith("attn.qkv.bias") and not any(k.endswith("attn.qkv.bias") for k in src):
        return "the source has no qkv bias; zero (equivalent)"
    return None


def _missing_error(key: str, vit_key: Optional[str]) -> str:
    """The error line for a model key the source lacks and that may not be left at its initial value."""
    fc = _STEP_FC.match(key)
    if fc:
        step = f"blocks.{fc.group(1)}.{fc.group(2)}"
        return (f"{key}: not in the source, which has the trained {step}_attn: a zero {fc.group(2)}_fc "
                "would silently switch that attention step off (the checkpoint is incomplete; export it "
                f"again with its {fc.group(2)}_fc weights)")
    return f"{key}: not in the source" + (f" (nor {vit_key})" if vit_key else "")


def adapt_state_dict(src: Mapping[str, Tensor], target: Mapping[str, Tensor],
                     grid: Tuple[int, int], report: LoadReport) -> StateDict:
    """Map a source state dict (our keys) onto a model's state dict ``target``.

    New attention steps start from the same block's ``norm1``/``attn`` with a zero ``*_fc`` (a
    step the source has must bring its ``*_fc``); a missing ``time_embed`` is zero; a head with
    another class count is dropped; ``pos_embed`` is resampled in 2-D to ``grid`` and ``time_embed``
    in 1-D. Unreconcilable shapes or missing weights that
    matter raise a ValueError naming every such key. Fills ``report``.
    """
    src = dict(src)
    for k in [k for k in src if k.startswith("pre_logits.")]:
        report.unexpected[k] = "pre-logits representation layer, unused by a linear head"
        del src[k]
    _check_functional_extras(src)
    head_note = ""
    if "head.weight" in src and "head.weight" in target and src["head.weight"].shape != target["head.weight"].shape:
        head_note = (f"dropped: source has {src['head.weight'].shape[0]} classes, model "
                     f"{target['head.weight'].shape[0]}; randomly initialised")
    out: StateDict = {}
    errors: List[str] = []
    used = set()
    for k, ref in target.items():
        m = _NEW_STEP.match(k)
        vit_key = f"blocks.{m.group(1)}.{m.group(3)}.{m.group(4)}" if m else None
        if k in src and not (head_note and k.startswith("head.")):
            v, used = src[k], used | {k}
            if v.shape == ref.shape:
                out[k] = v
                report.loaded.append(k)
            elif k in ("pos_embed", "time_embed"):
                try:
                    out[k] = _fit_embedding(k, v, ref, grid)
                    report.resampled[k] = f"{tuple(v.shape)} -> {tuple(ref.shape)}"
                except ValueError as e:
                    errors.append(str(e))
            else:
                errors.append(f"{k}: source shape {tuple(v.shape)}, model {tuple(ref.shape)}")
        elif k in src:  # a head with another class count
            used.add(k)
            report.missing[k] = head_note
            out[k] = ref
        elif vit_key in src and src[vit_key].shape == ref.shape:
            out[k] = src[vit_key]
            report.initialised_from[k] = vit_key
        elif (why := _missing_reason(k, src, head_note)) is not None:
            out[k] = ref if k.startswith("head.") else torch.zeros_like(ref)
            report.missing[k] = why
        else:
            errors.append(_missing_error(k, vit_key))
    if errors:
        raise ValueError(f"cannot load {report.source} into this model ({len(errors)} tensors do not fit; "
                         "build the model the checkpoint describes with from_pretrained, or check the "
                         "config's sizes):\n  " + "\n  ".join(errors[:20]))
    for k in sorted(set(src) - used):
        report.unexpected[k] = "not part of this model; ignored"
    return out
