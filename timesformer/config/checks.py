"""What the config checks itself (the names of :data:`~timesformer.config.defaults.CHOICES`), and
``require``, the one way every package words a bad value: the key, the value, what is allowed.

Every problem at once: under :func:`check_each` (``engine.check_config`` and ``engine.preflight``
use it), ``require`` and ``report`` record a problem instead of raising it, each package's checks
run to their end, and one ConfigError lists them all. Elsewhere a check raises at its first
problem, as a builder wants.
"""
import contextvars
import difflib
from typing import Any, Callable, List, Optional, Sequence

from fvcore.common.config import CfgNode

from timesformer.errors import ConfigError

from .defaults import CHOICES


def a_type(value: Any) -> str:
    """'a float', 'an int': the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


# The problems check_each is recording (None outside it).
_PROBLEMS: contextvars.ContextVar[Optional[List[str]]] = contextvars.ContextVar("config_problems", default=None)


def report(message: str) -> None:
    """A config problem: recorded under :func:`check_each`, else raised as a ConfigError."""
    found = _PROBLEMS.get()
    if found is None:
        raise ConfigError(message)
    if message not in found:
        found.append(message)


def require(ok: bool, key: str, value: Any, allowed: str) -> bool:
    """A problem naming ``key``, its value and what is allowed unless ``ok``; returns ``ok`` (a check
    that needs the value to be valid goes on only when it is)."""
    if not ok:
        report(f"config key {key} = {value!r} is invalid: expected {allowed}.")
    return ok


def problems_error(messages: Sequence[str]) -> ConfigError:
    """One ConfigError for ``messages``: the message itself when there is one, else a numbered list."""
    if len(messages) == 1:
        return ConfigError(messages[0])
    listed = "\n".join(f"  {i}. {m}" for i, m in enumerate(messages, 1))
    return ConfigError(f"the config has {len(messages)} problems:\n{listed}")


def check_each(*checks: Callable[[], Any]) -> None:
    """Run every one of ``checks`` with ``require``/``report`` recording problems instead of raising
    them, then raise one ConfigError listing them all (:func:`problems_error`). A ConfigError a check
    raises itself is recorded and the next check runs; so is any error once a problem was recorded
    (a check reading a value already reported as invalid). Inside another ``check_each`` the outer
    one reports."""
    outer = _PROBLEMS.get()
    found: List[str] = [] if outer is None else outer
    token = _PROBLEMS.set(found)
    try:
        for check in checks:
            try:
                check()
            except ConfigError as e:
                report(str(e))
            except Exception:
                if not found:
                    raise
                # the check read a value already reported as invalid: the problems say what to fix
    finally:
        _PROBLEMS.reset(token)
    if found and outer is None:
        raise problems_error(found)


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
            report(f"config key {key} = {value!r} is invalid: expected one of {names}.{_hint(value, names)}")
