"""Configuration: ``get_cfg()`` defaults, ``load_config(path, opts)`` merge and validation.

Config files are read with ``yaml.safe_load`` (plain values only) and merged base first: each
``_BASE_`` (a path relative to the file naming it, or a list of them) is merged before the file
itself, so an error names the file it is in, and a circular ``_BASE_`` is named as a cycle. A value
must have its default's type, except that an integer is accepted for a float key (``BASE_LR: 1``)
and a list for a tuple; strings are read as Python literals, as yacs does (``"[32, 40]"``).
"""
import difflib
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml
from fvcore.common.config import CfgNode

from .checks import ConfigError, check_config, register_check, require
from .defaults import get_cfg

__all__ = ["CfgNode", "ConfigError", "get_cfg", "load_config", "merge_opts", "check_config",
           "register_check", "require"]

BASE_KEY = "_BASE_"
EXAMPLE_CFG = "configs/Kinetics/TimeSformer_divST_8x32_224.yaml"


def _all_keys(cfg: CfgNode, prefix: str = "") -> List[str]:
    keys = []
    for k, v in cfg.items():
        full = f"{prefix}{k}"
        keys.extend(_all_keys(v, full + ".") if isinstance(v, CfgNode) else [full])
    return keys


def _a(value: Any) -> str:
    """'a float', 'an int': the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _unknown_key(key: str, root: CfgNode, source: str) -> ConfigError:
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
    raise ConfigError(f"{source}: {key} = {value!r} is {_a(value)}; expected {_a(default)} like its default "
                      f"{default!r} (see timesformer/config/defaults.py)")


def _merge_tree(cfg: CfgNode, tree: Dict[Any, Any], source: str, root: CfgNode, prefix: str = "") -> None:
    """Merge a nested dict of values into ``cfg``: every key known, every value of its default's type."""
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if k not in cfg:
            raise _unknown_key(key, root, source)
        if isinstance(cfg[k], CfgNode) and isinstance(v, dict):
            _merge_tree(cfg[k], v, source, root, key + ".")
        else:
            cfg[k] = _coerce(key, CfgNode._decode_cfg_value(v), cfg[k], source)


def merge_opts(cfg: CfgNode, opts: Iterable[str], source: str = "command line") -> CfgNode:
    """Merge ``KEY VALUE`` pairs (as typed on a command line) into ``cfg``."""
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(f"{source}: overrides come in KEY VALUE pairs, got an odd number: {opts}")
    for key, value in zip(opts[0::2], opts[1::2], strict=True):
        if key == BASE_KEY:
            raise ConfigError(f"{source}: {BASE_KEY} can only be used in config files")
        tree: Dict[str, Any] = {key.split(".")[-1]: value}
        for part in reversed(key.split(".")[:-1]):
            tree = {part: tree}
        _merge_tree(cfg, tree, source, cfg)
    return cfg


def _yaml_error(path: str, e: yaml.YAMLError) -> ConfigError:
    mark = getattr(e, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if isinstance(e, yaml.constructor.ConstructorError):
        return ConfigError(f"config file {path}{where}: {problem}: config files are read with yaml.safe_load, "
                           "which allows plain values (numbers, strings, lists, mappings) only; remove the tag")
    context = getattr(e, "context", None)
    return ConfigError(f"config file {path}{where}: not valid YAML: {problem}"
                       f"{f' ({context})' if context else ''}; fix the syntax there")


def _read_yaml(path: str) -> Dict[str, Any]:
    """The mapping a config file holds (safe loading), or a ConfigError naming the file."""
    try:
        with open(path) as f:
            tree = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise _yaml_error(path, e) from e
    if tree is None:
        raise ConfigError(f"config file {path} is empty; write the keys that differ from the defaults, e.g. "
                          f"'{BASE_KEY}: ../Kinetics/TimeSformer_divST_8x32_224.yaml' and 'MODEL: {{NUM_CLASSES: 10}}'")
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {path} holds {_a(tree)}; expected a mapping of sections to keys, e.g. "
                          "'MODEL: {NUM_CLASSES: 10}' (see configs/)")
    return tree


def _merge_file(cfg: CfgNode, path: str, chain: Tuple[str, ...] = ()) -> None:
    """Merge ``path``'s ``_BASE_`` files (recursively), then ``path`` itself, into ``cfg``."""
    if os.path.realpath(path) in {os.path.realpath(p) for p in chain}:
        raise ConfigError(f"circular {BASE_KEY}: {' -> '.join([*chain, path])}; a config file cannot "
                          f"inherit from itself: remove one of these {BASE_KEY} entries")
    tree = _read_yaml(path)
    bases = tree.pop(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"config file {path}: {BASE_KEY} = {tree.get(BASE_KEY, bases)!r}; expected the path "
                          "of a config file (relative to this one) or a list of such paths")
    for base in bases:
        full = os.path.normpath(os.path.join(os.path.dirname(path), os.path.expanduser(base)))
        if not os.path.isfile(full):
            raise ConfigError(f"config file {path}: {BASE_KEY} {base} ({full}) does not exist; a {BASE_KEY} "
                              "path is relative to the file that names it")
        _merge_file(cfg, full, (*chain, path))
    _merge_tree(cfg, tree, f"config file {path}", cfg)


def load_config(path: Optional[str] = None, opts: Optional[Iterable[str]] = None,
                check: bool = True) -> CfgNode:
    """Defaults, then the YAML at ``path`` (with ``_BASE_`` inheritance), then ``opts``; validated."""
    cfg = get_cfg()
    if path:
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path} does not exist; pass --cfg with a path such as {EXAMPLE_CFG}")
        _merge_file(cfg, path)
    merge_opts(cfg, opts)
    if check:
        check_config(cfg)
    cfg.freeze()
    return cfg
