"""Reading ``path<sep>label`` annotation lines shared by the CSV-based datasets."""
from typing import Iterator, List, Tuple

from .base import AnnotationError


def read_rows(file: str, sep: str, min_fields: int = 2, max_fields: int = 2) -> Iterator[Tuple[int, List[str]]]:
    """Yield (line number, fields) of each non-empty line.

    With two fields the line is split at the last separator, so a path may contain it.
    """
    with open(file) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            fields = line.rsplit(sep, 1) if max_fields == 2 else line.split(sep)
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
