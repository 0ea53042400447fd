"""JSON that every reader accepts. Python's ``json`` writes NaN and the infinities as the bare tokens
``NaN`` / ``Infinity``, which are not JSON (jq, JavaScript, Go and strict parsers reject the file);
every JSON and JSON-lines file the package writes goes through :func:`dumps`, which writes them as
``null`` and refuses anything else that is not JSON. Tensors and numpy numbers become Python numbers.

Where a reader should learn that a number was not finite (a diverged loss in stats.jsonl),
:func:`non_finite` names those entries, and the writer records them beside the nulls.
"""
import json
import math
from typing import Any, Dict, Optional

from .files import write_text


def finite_or_none(value: Any) -> Optional[float]:
    """``value`` as a float, or None when it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(obj: Any) -> Any:
    """``obj`` with tensors and numpy values as Python numbers and lists, tuples as lists, and every
    non-finite float as None (recursively through dicts and lists)."""
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # a tensor, numpy array or scalar
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def non_finite(record: Dict[str, Any]) -> Dict[str, str]:
    """{key: 'nan' | 'inf' | '-inf'} of the top-level numbers of ``record`` that are not finite."""
    found = {}
    for key, value in record.items():
        if hasattr(value, "tolist"):  # a tensor or numpy number: a float when it holds one
            value = value.tolist()
        if isinstance(value, float) and not math.isfinite(value):
            found[key] = str(value)
    return found


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (see the module docstring); ``kwargs`` go to ``json.dumps``."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def write_json(path: str, obj: Any, indent: Optional[int] = 1) -> None:
    """Write ``obj`` as strict JSON to ``path`` atomically (``files.write_text``)."""
    write_text(path, dumps(obj, indent=indent) + "\n")
