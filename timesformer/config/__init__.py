"""Configuration: ``get_cfg()`` defaults, ``load_config(path, opts)`` merge and validation.

This package is a leaf: it imports nothing of timesformer but ``errors``. It checks what it owns
(known keys, types, the names of ``defaults.CHOICES``); each package checks the keys it reads when
it builds, and ``timesformer.engine.check_config`` runs all of those checks up front.

Config files are read with ``yaml.safe_load`` (plain values only) and merged base first: each
``_BASE_`` (a path relative to the file naming it, or a list of them) is merged before the file
itself, so an error names the file it is in, and a circular ``_BASE_`` is named as a cycle. A value
must have its default's type, except that an integer is accepted for a float key (``BASE_LR: 1``)
and a list for a tuple; strings are read as Python literals, as yacs does (``"[32, 40]"``).
"""
import difflib
from typing import Any, Dict, Iterable, List, Optional

from fvcore.common.config import CfgNode

from timesformer.errors import ConfigError

from .checks import a_type, check_choices, check_each, report, require
from .defaults import RETIRED, get_cfg
from .files import BASE_KEY, file_trees, find_config

__all__ = ["CfgNode", "ConfigError", "check_each", "find_config", "get_cfg", "load_config", "merge_opts", "report",
           "require"]

def _all_keys(cfg: CfgNode, prefix: str = "") -> List[str]:
    keys = []
    for k, v in cfg.items():
        full = f"{prefix}{k}"
        keys.extend(_all_keys(v, full + ".") if isinstance(v, CfgNode) else [full])
    return keys


def _unknown_key(key: str, root: CfgNode, source: str) -> ConfigError:
    if key in RETIRED:
        return ConfigError(f"{source}: config key {key} was retired: {RETIRED[key]}")
    close = difflib.get_close_matches(key, _all_keys(root), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return ConfigError(f"{source}: unknown config key {key}.{hint} "
                       "Every key is listed with its meaning in timesformer/config/defaults.py.")


def _coerce(key: str, value: Any, default: Any, source: str) -> Any:
    """``value`` as the type of ``default`` (int -> float, list <-> tuple), else a ConfigError."""
    if isinstance(default, CfgNode):
        first = next(iter(default))
        raise ConfigError(f"{source}: {key} = {value!r}, but {key} is a section of keys ({', '.join(list(default)[:4])}"
                          f", ...), not a value; write its keys under it, e.g. '{key}: {{{first}: ...}}'")
    if type(value) is type(default):
        return value
    if type(default) is float and type(value) is int:  # BASE_LR: 1 means 1.0 (bool is not an int here)
        return float(value)
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    raise ConfigError(f"{source}: {key} = {value!r} is {a_type(value)}; expected {a_type(default)} like its default "
                      f"{default!r} (see timesformer/config/defaults.py)")


def _merge_tree(cfg: CfgNode, tree: Dict[Any, Any], source: str, root: CfgNode, prefix: str = "") -> None:
    """Merge a nested dict of values into ``cfg``: every key known, every value of its default's type."""
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if k not in cfg:
            report(str(_unknown_key(key, root, source)))
        elif isinstance(cfg[k], CfgNode) and isinstance(v, dict):
            _merge_tree(cfg[k], v, source, root, key + ".")
        else:
            try:
                cfg[k] = _coerce(key, CfgNode._decode_cfg_value(v), cfg[k], source)
            except ConfigError as e:
                report(str(e))


def merge_opts(cfg: CfgNode, opts: Iterable[str], source: str = "command line") -> CfgNode:
    """Merge ``KEY VALUE`` pairs (as typed on a command line) into ``cfg``."""
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(f"{source}: overrides come in KEY VALUE pairs, got an odd number: {opts}")
    for key, value in zip(opts[0::2], opts[1::2], strict=True):
        if key == BASE_KEY:
            report(f"{source}: {BASE_KEY} can only be used in config files")
            continue
        tree: Dict[str, Any] = {key.split(".")[-1]: value}
        for part in reversed(key.split(".")[:-1]):
            tree = {part: tree}
        _merge_tree(cfg, tree, source, cfg)
    return cfg


def load_config(path: Optional[str] = None, opts: Optional[Iterable[str]] = None,
                check: bool = True) -> CfgNode:
    """Defaults, then the YAML at ``path`` (with ``_BASE_`` inheritance), then ``opts``; with ``check``
    the names of the keys that take one of a few are checked (the packages check the rest). One
    ConfigError lists every unknown key and bad value of the files and ``opts``."""
    cfg = get_cfg()
    path = find_config(path) if path else None  # a missing file: nothing else can be checked

    def merge_files() -> None:
        for source, tree in file_trees(path) if path else ():
            _merge_tree(cfg, tree, f"config file {source}", cfg)

    check_each(merge_files, lambda: merge_opts(cfg, opts), lambda: check and check_choices(cfg))
    cfg.freeze()
    return cfg
