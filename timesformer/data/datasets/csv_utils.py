"""Reading annotation files (``path<sep>label`` CSV lines, JSON documents) for the datasets.

Every error is an AnnotationError naming the file and the line (``file:line:``, counted from 1)
or, for the items of a JSON list or object, the entry (``file: entry k``, counted from 0).
"""
import json
from typing import Any, Iterator, List, Optional, Tuple

from timesformer.errors import AnnotationError


def read_rows(file: str, sep: str, min_fields: int = 2, max_fields: int = 2,
              first: bool = False) -> Iterator[Tuple[int, List[str]]]:
    """Yield (line number, fields) of each non-empty line.

    With two fields the line is split at the last separator, so a path may contain it (``first``: at
    the first one, so the second field may contain it, as a multi-label "path,a,b" line).
    """
    with open(file) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            fields = line.split(sep) if max_fields != 2 else line.split(sep, 1) if first else line.rsplit(sep, 1)
            fields = [x.strip() for x in fields]
            if not min_fields <= len(fields) <= max_fields or not all(fields):
                count = str(min_fields) if min_fields == max_fields else f"{min_fields} or {max_fields}"
                raise AnnotationError(f"{file}:{lineno}: expected {count} fields separated by {sep!r} "
                                      f"(DATA.PATH_LABEL_SEPARATOR), got {line!r}")
            yield lineno, fields


def parse_number(file: str, lineno: int, value: str, kind: type = int, what: str = "label"):
    """An int (or float) field, or an AnnotationError naming the file and line."""
    try:
        return kind(value)
    except ValueError:
        raise AnnotationError(f"{file}:{lineno}: {what} {value!r} is not a number of type "
                              f"{kind.__name__}") from None


def read_json(file: str, **kwargs: Any) -> Any:
    """The JSON document in ``file`` (``kwargs`` go to ``json.loads``); a syntax error names the
    file, line and column."""
    with open(file) as f:
        text = f.read()
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{file}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); fix the file "
                              "there (or download it again)") from None


def read_json_list(file: str, what: str) -> List[Any]:
    """The JSON list in ``file`` (of ``what``, for the error when the document is not a list)."""
    data = read_json(file)
    if not isinstance(data, list):
        raise AnnotationError(f"{file}: expected a list of {what}, got a JSON {type(data).__name__}")
    return data


def json_int(value: Any, strings: bool = False) -> Optional[int]:
    """``value`` when it is a JSON integer (with ``strings`` also a string of one, as "12"), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if strings and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None
