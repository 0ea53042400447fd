"""What the config checks itself (the names of :data:`~timesformer.config.defaults.CHOICES`), and
``require``, the one way every package words a bad value: the key, the value, what is allowed."""
import difflib
from typing import Any, Sequence

from fvcore.common.config import CfgNode

from timesformer.errors import ConfigError

from .defaults import CHOICES


def a_type(value: Any) -> str:
    """'a float', 'an int': the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ConfigError for ``key`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"config key {key} = {value!r} is invalid: expected {allowed}.")


def _hint(value: Any, names: Sequence[str]) -> str:
    """' The names are lower case: ...' or ' Did you mean ...?' for a name that is almost right."""
    if not isinstance(value, str):
        return ""
    if value.lower() in names:
        return f" The names are lower case: {' or '.join(repr(n) for n in names)}."
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choices(cfg: CfgNode) -> None:
    """Every key of CHOICES holds one of its names."""
    for key, names in CHOICES.items():
        section, name = key.split(".")
        value = cfg[section][name]
        if value not in names:
            raise ConfigError(f"config key {key} = {value!r} is invalid: expected one of {names}.{_hint(value, names)}")
