"""Configuration: ``get_cfg()`` defaults, ``load_config(path, opts)`` merge and validation."""
import difflib
import os
from typing import Iterable, List, Optional

from fvcore.common.config import CfgNode

from .checks import ConfigError, check_config, register_check, require
from .defaults import get_cfg

__all__ = ["CfgNode", "ConfigError", "get_cfg", "load_config", "merge_opts", "check_config",
           "register_check", "require"]


def _all_keys(cfg: CfgNode, prefix: str = "") -> List[str]:
    keys = []
    for k, v in cfg.items():
        full = f"{prefix}{k}"
        keys.extend(_all_keys(v, full + ".") if isinstance(v, CfgNode) else [full])
    return keys


def _explain(e: Exception, cfg: CfgNode, source: str) -> ConfigError:
    """Turn yacs' terse KeyError/ValueError into an error that says how to fix it."""
    msg = str(e.args[0]) if e.args else str(e)
    if msg.startswith("Non-existent"):  # yacs: "Non-existent (config )key: X"
        key = msg.split(":", 1)[1].strip()
        close = difflib.get_close_matches(key, _all_keys(cfg), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        return ConfigError(f"{source}: unknown config key {key}.{hint} "
                           "Every key is listed with its meaning in timesformer/config/defaults.py.")
    if "Type mismatch" in msg:
        return ConfigError(f"{source}: {msg}. Give the value the type of its default "
                           "(see timesformer/config/defaults.py).")
    return ConfigError(f"{source}: {msg}")


def merge_opts(cfg: CfgNode, opts: Iterable[str], source: str = "command line") -> CfgNode:
    """Merge ``KEY VALUE`` pairs (as typed on a command line) into ``cfg``."""
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(f"{source}: overrides come in KEY VALUE pairs, got an odd number: {opts}")
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError) as e:
        raise _explain(e, cfg, source) from e
    return cfg


def load_config(path: Optional[str] = None, opts: Optional[Iterable[str]] = None,
                check: bool = True) -> CfgNode:
    """Defaults, then the YAML at ``path`` (with ``_BASE_`` inheritance), then ``opts``; validated."""
    cfg = get_cfg()
    if path:
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path} does not exist; pass --cfg with a path such as "
                              "configs/Kinetics/TimeSformer_divST_8x32_224.yaml")
        try:
            cfg.merge_from_file(path)  # fvcore: yaml.safe_load, _BASE_ relative to the file
        except (KeyError, ValueError, AssertionError) as e:
            raise _explain(e, cfg, f"config file {path}") from e
    merge_opts(cfg, opts)
    if check:
        check_config(cfg)
    cfg.freeze()
    return cfg
