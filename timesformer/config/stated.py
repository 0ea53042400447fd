"""Which keys a user stated: in a config file (with its ``_BASE_`` files) or as command-line overrides.

Some keys have a default that loaded weights may replace (DATA.INPUT_CHANNEL_ORDER follows a
checkpoint); a value the user wrote down, even one equal to the default, always wins.
"""
from typing import Any, Dict, Iterable, Optional, Set

from fvcore.common.config import CfgNode


def _flatten(tree: Dict[str, Any], prefix: str = "") -> Set[str]:
    keys = set()
    for k, v in tree.items():
        keys |= _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return keys


def stated_keys(path: Optional[str] = None, opts: Optional[Iterable[str]] = None) -> Set[str]:
    """Full names (``DATA.NUM_FRAMES``) of the keys set by the YAML at ``path`` (``_BASE_`` files
    included, read safely) and by the ``KEY VALUE`` pairs ``opts``; call it after ``load_config``
    accepted both."""
    keys = _flatten(CfgNode.load_yaml_with_base(path, allow_unsafe=False)) if path else set()
    return keys | set(list(opts or [])[::2])
