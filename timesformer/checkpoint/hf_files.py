"""What a Hugging Face model folder holds besides the weights, as data: ``config.json`` (transformers'
TimesformerConfig plus our keys), ``preprocessor_config.json`` (how a video becomes input) and the
model card ``README.md`` (source, scheme, frames, size, classes, license, conversion, parity).
``formats.write_weights`` writes them; nothing here touches a file.
"""
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from timesformer.config.stated import read_stored

from .channels import BGR, ORDER_KEY, SSV2_CLASSES
from .zoo import RELEASED, RELEASED_LICENSE, RELEASED_LICENSE_TEXT

CFG_KEY = "timesformer_cfg"  # our config YAML inside a Hugging Face config.json (transformers keeps it)
PREPROCESSOR = "preprocessor_config.json"
CARD = "README.md"
# Stored-config keys the preprocessor config and the card read.
_CARD_KEYS = ("DATA.MEAN", "DATA.STD", "DATA.SAMPLING_RATE", "DATA.TARGET_FPS", "TRAIN.DATASET", "TEST.DATASET",
              "TIMESFORMER.PRETRAINED_MODEL", "TRAIN.CHECKPOINT_FILE_PATH")


@dataclass(frozen=True)
class Parity:
    """Logits of the written folder against the source model's, on one random clip."""

    max_abs_diff: float
    against: str  # what ran the folder (transformers, or our own reader)
    clip: Tuple[int, ...]  # (B, C, T, H, W)
    tolerance: float

    @property
    def agrees(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def hf_config(kw: Dict[str, Any], class_names: Optional[List[str]], cfg: Optional[str],
              channel_order: str) -> Dict[str, Any]:
    """transformers' TimesformerConfig of a model with keyword arguments ``kw`` (plus our config YAML
    and the input channel order, which transformers keeps as extra attributes)."""
    names = class_names or [f"LABEL_{i}" for i in range(kw["num_classes"])]
    extra = {CFG_KEY: cfg} if cfg else {}
    extra[ORDER_KEY] = channel_order
    return dict(**extra, architectures=["TimesformerForVideoClassification"], model_type="timesformer",
                attention_type=kw["attention_type"], image_size=kw["img_size"], patch_size=kw["patch_size"],
                num_channels=kw["in_chans"], num_frames=kw["num_frames"], hidden_size=kw["embed_dim"],
                num_hidden_layers=kw["depth"], num_attention_heads=kw["num_heads"],
                intermediate_size=int(round(kw["embed_dim"] * kw["mlp_ratio"])), hidden_act="gelu",
                layer_norm_eps=kw.get("norm_eps", 1e-6), qkv_bias=kw["qkv_bias"],
                id2label={str(i): n for i, n in enumerate(names)}, label2id={n: i for i, n in enumerate(names)})


def preprocessor_config(kw: Dict[str, Any], cfg: Optional[str], channel_order: str) -> Dict[str, Any]:
    """transformers' VideoMAE processor settings for the model (what its Hugging Face ports use): the
    short side resized to the crop size (bilinear), one centre crop, x/255, DATA.MEAN / DATA.STD of the
    stored config (defaults 0.45 / 0.225); plus the frames and the channel order (transformers feeds
    RGB: a BGR model needs its frames flipped, the card says so)."""
    stored, _ = read_stored(cfg, _CARD_KEYS, "the stored config")
    size = kw["img_size"]
    return dict(image_processor_type="VideoMAEImageProcessor", do_resize=True, size={"shortest_edge": size},
                resample=2, do_center_crop=True, crop_size={"height": size, "width": size}, do_rescale=True,
                rescale_factor=1 / 255, do_normalize=True, image_mean=list(stored.DATA.MEAN),
                image_std=list(stored.DATA.STD), num_frames=kw["num_frames"], **{ORDER_KEY: channel_order})


def _is_released(name: str) -> bool:
    """Whether ``name`` (a path, hub id or name) is one of the authors' released checkpoints."""
    base = os.path.basename(name.rstrip("/"))
    return (name in RELEASED or name.startswith("facebook/timesformer-")  # every port's hub id
            or (base.startswith("TimeSformer_") and base.endswith(".pyth")))


def weights_license(layout: str, names: Sequence[str]) -> Tuple[str, str]:
    """(card license id, terms in words) of weights in ``layout`` that came from ``names`` (the source
    and what its stored config started from): the authors' CC BY-NC 4.0 for their checkpoints and
    anything converted or fine-tuned from them; else 'other', the terms not known here."""
    if layout == "pyth" or any(_is_released(n) for n in names if n):
        return RELEASED_LICENSE, RELEASED_LICENSE_TEXT
    return "other", ("not known to the converter: the terms of the weights this model was trained from "
                     "and of its training data apply; state them here")


def _sampling(kw: Dict[str, Any], dataset: str, rate: int, fps: float, stated: bool) -> str:
    t = kw["num_frames"]
    if not stated:
        return f"{t} frames per clip (the checkpoint does not state its sampling; see MODEL_ZOO.md)"
    if dataset == "ssv2":
        return f"one frame from each of {t} equal segments of the video (the middle frame when testing)"
    return f"{t} frames, one every {rate} at {fps:g} fps (a {t * rate / fps:.1f} s clip)"


def _parity_text(parity: Optional[Parity]) -> str:
    if parity is None:
        return "Not checked: `tools/convert_checkpoint.py --to hf` checks it when it writes the folder."
    verdict = ("agree" if parity.agrees else f"DIFFER by more than {parity.tolerance:g}: run this model with "
               "timesformer, not transformers")
    return (f"Checked when the folder was written: on one random clip {tuple(parity.clip)} (B, C, T, H, W), "
            f"the logits of {parity.against} and of timesformer's model built from the source {verdict} "
            f"(max abs difference {parity.max_abs_diff:.2e}).")


def model_card(kw: Dict[str, Any], class_names: Optional[List[str]], cfg: Optional[str], channel_order: str,
               layout: str, source: str, parity: Optional[Parity], version: str) -> str:
    """The model card (README.md with the hub's metadata header) of a converted model."""
    stored, stated = read_stored(cfg, _CARD_KEYS, source)
    dataset = stored.TEST.DATASET if "TEST.DATASET" in stated else (
        "ssv2" if kw["num_classes"] == SSV2_CLASSES and not cfg else stored.TRAIN.DATASET)
    started = [stored.TIMESFORMER.PRETRAINED_MODEL, stored.TRAIN.CHECKPOINT_FILE_PATH]
    license_id, terms = weights_license(layout, [source, *started])
    names = class_names or []
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "") if names else "not named (LABEL_i)"
    size, t = kw["img_size"], kw["num_frames"]
    sampling = _sampling(kw, dataset, stored.DATA.SAMPLING_RATE, stored.DATA.TARGET_FPS,
                         "DATA.SAMPLING_RATE" in stated or "TEST.DATASET" in stated)
    bgr = ("\n**This model expects BGR frames** (as the authors' SSv2 models were trained). transformers' "
           "processors and pipeline give RGB: flip the channels first (`pixel_values.flip(2)`), or use "
           "timesformer, which applies `input_channel_order` itself.\n") if channel_order == BGR else ""
    return f"""---
license: {license_id}
library_name: transformers
pipeline_tag: video-classification
tags: [video-classification, timesformer]
---

# TimeSformer ({kw['attention_type']}), {t} frames at {size}x{size}, {kw['num_classes']} classes

| | |
|---|---|
| source | `{source}` ({layout} layout) |
| attention scheme | `{kw['attention_type']}` |
| backbone | ViT, patch {kw['patch_size']}, width {kw['embed_dim']}, depth {kw['depth']}, {kw['num_heads']} heads |
| frames | {t}: {sampling} |
| input size | {size}x{size}: short side resized to {size}, centre crop |
| normalisation | x/255, mean {list(stored.DATA.MEAN)}, std {list(stored.DATA.STD)} |
| input channel order | {channel_order} |
| classes | {kw['num_classes']}: {shown} |
{bgr}
## Use

```python
from transformers import pipeline
classify = pipeline("video-classification", model="THIS_FOLDER_OR_REPO")
classify("video.mp4")  # decoded by torchcodec (transformers >= 5) or PyAV (4.x)
```

transformers' pipeline takes {t} frames spread evenly over the whole video and one centre crop; the
protocol the model was trained and tested with (the frames above, 3 crops averaged) is timesformer's
`python tools/predict.py video.mp4 --weights THIS_FOLDER_OR_REPO`.

## License of the weights

{terms}.

## Conversion

Written by timesformer {version} (`tools/convert_checkpoint.py SOURCE OUT --to hf`): the tensors of
`{source}` renamed to transformers' TimeSformer keys, never changed; the config keeps timesformer's
(`{CFG_KEY}`, `{ORDER_KEY}`).

## Parity

{_parity_text(parity)}
"""
