"""Which channel order (RGB or BGR) a checkpoint's model was trained on, read off its stored config.

The authors' SSv2 loader read JPEG frames with OpenCV (BGR) and its ViT path never flipped them, so
their released SSv2 models expect BGR; their Kinetics and HowTo100M models were fed RGB by PyAV, as
is everything this library trains unless DATA.INPUT_CHANNEL_ORDER says otherwise. How a file tells:

- files written by ``write_weights`` (tools/convert_checkpoint.py) carry ``input_channel_order``
  (in a Hugging Face folder, in its ``config.json``); our training checkpoints state
  ``DATA.INPUT_CHANNEL_ORDER`` in their stored config;
- a reference ``.pyth`` (its stored config has ``MODEL.ARCH: vit`` or ``MODEL.MODEL_NAME``) is BGR
  when that config names the ``ssv2`` dataset (TRAIN.DATASET or TEST.DATASET), or, naming none, has
  174 classes; else RGB;
- a Hugging Face TimeSformer port without our keys is BGR with 174 labels (SSv2's), else RGB;
- a stored config of ours without the key predates it: RGB, all this library ever fed;
- anything else (image ViTs, bare state dicts) states nothing: the run's config decides.
"""
import logging
from typing import Any, Dict, Optional, Tuple

import yaml

from timesformer.config import CfgNode
from timesformer.config.defaults import CHANNEL_ORDERS

logger = logging.getLogger(__name__)

RGB, BGR = CHANNEL_ORDERS
ORDER_KEY = "input_channel_order"  # in the files and config.json files that we write
SSV2_CLASSES = 174
_BGR_WHY = "the authors' SSv2 loader decoded frames with OpenCV (BGR) and never flipped them for the ViT"
Order = Tuple[Optional[str], str]  # (rgb | bgr | None = not stated, why)


def checked_order(value: Any, where: str) -> str:
    """``value`` as a channel order, or a ValueError naming ``where`` it was read."""
    order = str(value).lower()
    if order not in CHANNEL_ORDERS:
        raise ValueError(f"{where}: input channel order {value!r}; expected one of {CHANNEL_ORDERS}")
    return order


def order_from_cfg_yaml(text: Optional[str], source: str) -> Order:
    """The channel order a stored config YAML (ours or the reference's) states or implies."""
    try:
        tree = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None, ""  # formats.py warns about an unreadable stored config already
    if not isinstance(tree, dict):
        return None, ""
    data, model = tree.get("DATA") or {}, tree.get("MODEL") or {}
    if data.get("INPUT_CHANNEL_ORDER") is not None:
        return checked_order(data["INPUT_CHANNEL_ORDER"], f"{source}: stored DATA.INPUT_CHANNEL_ORDER"), \
            "stated by its stored config"
    if model.get("ARCH") != "vit" and "MODEL_NAME" not in model:  # ours, written before the key existed
        return RGB, "its stored config predates DATA.INPUT_CHANNEL_ORDER; this library always fed RGB"
    datasets = {str((tree.get(split) or {}).get("DATASET") or "").lower() for split in ("TRAIN", "TEST")} - {""}
    if "ssv2" in datasets or (not datasets and model.get("NUM_CLASSES") == SSV2_CLASSES):
        return BGR, f"reference SSv2 checkpoint: {_BGR_WHY}"
    return RGB, "reference checkpoint of a dataset the authors decoded as RGB (PyAV)"


def order_from_hf_config(config: Dict[str, Any], stored_cfg: Optional[str], source: str) -> Order:
    """The channel order of a Hugging Face TimeSformer folder, from its ``config.json``."""
    if config.get(ORDER_KEY) is not None:
        return checked_order(config[ORDER_KEY], f"{source}/config.json: {ORDER_KEY}"), "stated in its config.json"
    if stored_cfg:
        return order_from_cfg_yaml(stored_cfg, source)
    labels = len(config.get("id2label") or {})
    if labels == SSV2_CLASSES:
        return BGR, f"Hugging Face port of a released SSv2 model ({SSV2_CLASSES} labels): {_BGR_WHY}"
    return RGB, f"Hugging Face TimeSformer with {labels} labels, not SSv2's {SSV2_CLASSES}: RGB, as every " \
        "other released model"


def apply_channel_order(cfg: CfgNode, order: Optional[str], note: str, source: str, stated: bool) -> CfgNode:
    """``cfg`` with DATA.INPUT_CHANNEL_ORDER = ``order`` (what ``source`` expects), unless the user
    ``stated`` the key in their config file or command line: their value wins, with a warning."""
    have = cfg.DATA.INPUT_CHANNEL_ORDER
    if order is None or order == have:
        return cfg
    if stated:
        logger.warning("DATA.INPUT_CHANNEL_ORDER = %s as your config states, although %s expects %s (%s)",
                       have, source, order, note)
        return cfg
    logger.info("DATA.INPUT_CHANNEL_ORDER = %s for %s (%s)", order, source, note)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATA.INPUT_CHANNEL_ORDER = order
    cfg.freeze()
    return cfg
