"""Damaged checkpoint files for tests: what a copy cut short or blocks lost in a crash leave behind.

    from tests.checkpoints import damage_data, half_copy
    damage_data(path)            # the index reads; the largest member's bytes fail their CRC-32
    half_copy(src, dst)          # the first half of ``src`` only
"""
import os
import struct
import zipfile
from typing import Union

PathLike = Union[str, os.PathLike]


def damage_data(path: PathLike, fill: int = 0, length: int = 64) -> str:
    """Overwrite ``length`` bytes of the largest member of the zip archive ``path`` (a torch file's
    largest tensor, an npz's largest array) with ``fill`` (0: finite zeros), in place; returns the
    member's name."""
    with zipfile.ZipFile(path) as z:
        tensors = [i for i in z.infolist() if "/data/" in i.filename] or z.infolist()  # not data.pkl
        record = max(tensors, key=lambda i: i.file_size)
    data = bytearray(open(path, "rb").read())
    header = record.header_offset
    extra = struct.unpack("<H", data[header + 28:header + 30])[0]
    start = header + 30 + len(record.filename.encode()) + extra  # the member's first data byte
    data[start:start + length] = bytes([fill]) * length
    with open(path, "wb") as f:
        f.write(bytes(data))
    return record.filename


def half_copy(src: PathLike, dst: PathLike) -> str:
    """Write the first half of ``src`` to ``dst`` (a copy cut off half-way); returns ``dst``."""
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[: len(data) // 2])
    return str(dst)
