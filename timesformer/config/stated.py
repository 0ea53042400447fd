"""What a YAML states: the keys a user stated (in a config file with its ``_BASE_`` files, or as
command-line overrides), and the values a checkpoint's stored config states.

Some keys have a default that loaded weights may replace (DATA.INPUT_CHANNEL_ORDER follows a
checkpoint); a value the user wrote down, even one equal to the default, always wins.
"""
import logging
from typing import Any, Dict, Iterable, Optional, Sequence, Set, Tuple

import yaml
from fvcore.common.config import CfgNode

from .defaults import CHOICES, get_cfg
from .files import file_trees, find_config

logger = logging.getLogger(__name__)


def _flatten(tree: Dict[str, Any], prefix: str = "") -> Set[str]:
    keys = set()
    for k, v in tree.items():
        keys |= _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return keys


def stated_keys(path: Optional[str] = None, opts: Optional[Iterable[str]] = None) -> Set[str]:
    """Full names (``DATA.NUM_FRAMES``) of the keys set by the YAML at ``path`` (``_BASE_`` files
    included, found and read as ``load_config`` finds and reads them) and by the ``KEY VALUE`` pairs ``opts``; call it
    after ``load_config`` accepted both."""
    keys = set().union(*(_flatten(tree) for _, tree in file_trees(find_config(path)))) if path else set()
    return keys | set(list(opts or [])[::2])


def _as_default(value: Any, default: Any) -> Any:
    """``value`` as the type of ``default`` (a list element-wise); TypeError/ValueError if it is not one."""
    if isinstance(default, (list, tuple)):
        return type(default)(type(default[0])(v) for v in value)
    return type(default)(value)


def read_stored(text: Optional[str], keys: Sequence[str], source: str) -> Tuple[CfgNode, Set[str]]:
    """The defaults with the values that a stored config YAML (a checkpoint's: ours or the reference's)
    states for ``keys`` copied in, and which of ``keys`` it states. A value is taken as its default's
    type; one that is not (a number for a name), or a name outside the key's CHOICES (compared in lower
    case; the reference's ``MODEL.ARCH: vit``), is left out; a YAML that does not read states nothing,
    with a warning naming ``source``. The one reader of stored configs (model sizes, test protocol)."""
    cfg, stated = get_cfg(), set()
    try:
        tree = yaml.safe_load(text) if text else None
    except yaml.YAMLError as e:
        logger.warning("%s: the stored config is not valid YAML (%s); not using it", source, e)
        return cfg, stated
    for key in keys if isinstance(tree, dict) else ():
        section, name = key.split(".")
        part = tree.get(section)
        value = part.get(name) if isinstance(part, dict) else None
        if value is None:
            continue
        try:
            value = _as_default(value, cfg[section][name])
        except (TypeError, ValueError, IndexError):
            continue
        if key in CHOICES:
            value = value.lower()
            if value not in CHOICES[key]:
                continue
        cfg[section][name] = value
        stated.add(key)
    return cfg, stated


def stored_datasets(text: Optional[str], source: str) -> Set[str]:
    """The TRAIN.DATASET and TEST.DATASET values a stored config YAML states (the data a checkpoint
    was trained and tested on); empty for weights without a config."""
    keys = ("TRAIN.DATASET", "TEST.DATASET")
    cfg, stated = read_stored(text, keys, source)
    return {cfg[key.split(".")[0]][key.split(".")[1]] for key in keys if key in stated}
