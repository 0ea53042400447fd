"""Annotation files for your own videos (``tools/make_annotations.py``): a ``ROOT/<class>/<video>`` tree
becomes ``train.csv``, ``val.csv`` and ``test.csv`` in the ``video_list`` format and ``classnames.txt``.

- Classes are the folders directly in ROOT (hidden ones left out), named by the folder and numbered
  in sorted order (``classnames.txt``, line k = class k). A class name may not hold a comma (the
  separator of the lines) nor start or end with a space (the files are read stripped).
- A video is what ``check.find_videos`` finds under a class folder, at any depth: a file whose
  extension is one of ``check.VIDEO_EXTENSIONS`` (.mp4, .webm, .mkv, .avi, .mov, ...) or a folder of
  JPEG/PNG frames (read as one video, as the ``video_list`` format defines it). Other files are
  left out, and a class folder without any video is no class.
- Lines are ``path,class name`` with the path relative to ROOT (``/`` separated): run with
  ``DATA.PATH_PREFIX ROOT`` and ``DATA.PATH_LABEL_SEPARATOR ,`` (class names may hold spaces).
- The split is made per class (stratified): of a class's n videos, ``round(n * val)`` go to val and
  ``round(n * test)`` to test (halves round up), at least one each when the fraction is above 0, but
  train always keeps one: a class of 1 video is train only, of 2 train and val, from 3 on it is in
  every split. Which videos go where is a shuffle seeded by the seed and the class name, so it is the
  same on every machine and run, and adding videos to one class leaves the others' split as it was.
- A split without any video (``--val 0``) gets no file.
"""
import math
import os
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from fvcore.common.config import CfgNode

from timesformer.errors import UsageError
from timesformer.utils.files import write_text

from .check import Report, check_paths, find_videos
from .datasets.video_list import CLASS_NAMES

SPLITS = ("train", "val", "test")
SEPARATOR = ","  # between path and class name: class names may hold spaces (Kinetics' do)


@dataclass
class Annotations:
    """The videos of each class (paths relative to the root, sorted) and, once split, each split's
    ``(path, class name)`` lines."""

    root: str
    classes: Dict[str, List[str]]
    splits: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)

    def counts(self, name: str) -> Tuple[int, ...]:
        """Videos of class ``name`` in train, val and test."""
        return tuple(sum(label == name for _, label in self.splits.get(s, [])) for s in SPLITS)


def _check_class_name(root: str, name: str) -> None:
    if SEPARATOR in name or name != name.strip():
        what = "holds a comma, which separates path and class" if SEPARATOR in name else \
            "starts or ends with a space, which reading the files strips"
        raise UsageError(f"{os.path.join(root, name)}: the class folder's name {name!r} {what}; rename the folder")


def find_classes(root: str) -> Annotations:
    """The class folders of ``root`` and the videos in each (a folder without any is left out)."""
    if not os.path.isdir(root):
        raise UsageError(f"{root}: no such folder; give the folder that holds one folder per class "
                         "(ROOT/<class>/<video or frame folder>)")
    classes: Dict[str, List[str]] = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue
        _check_class_name(root, name)
        videos = find_videos(folder)
        if videos == [folder]:
            raise UsageError(f"{folder}: the class folder holds image frames itself; put each video's frames "
                             f"in a folder of its own ({folder}/<video>/00001.jpg, ...)")
        if videos:
            classes[name] = [os.path.relpath(v, root).replace(os.sep, "/") for v in videos]
    if not classes:
        raise UsageError(f"{root}: no class folder holds a video; expected ROOT/<class>/<video or frame "
                         "folder> (videos: .mp4, .webm, .mkv, .avi, ...; frame folders: JPEG/PNG files)")
    return Annotations(os.path.abspath(root), classes)


def scan(data: Annotations, cfg: CfgNode, workers: int = 1) -> Report:
    """Decode every video as ``tools/check_videos.py`` does (``check.check_paths``) and drop the
    unreadable ones; classes left without a video go too. Returns the scan's report."""
    paths = [os.path.join(data.root, v) for videos in data.classes.values() for v in videos]
    report = check_paths(cfg, paths, workers)
    bad = {os.path.relpath(path, data.root).replace(os.sep, "/") for path, _ in report["unreadable"]}
    kept = {name: [v for v in videos if v not in bad] for name, videos in data.classes.items()}
    data.classes = {name: videos for name, videos in kept.items() if videos}
    return report


def _share(n: int, fraction: float) -> int:
    """``n * fraction`` rounded half up, at least 1 when the fraction is above 0."""
    return max(int(math.floor(n * fraction + 0.5)), 1 if fraction > 0 else 0)


def split_counts(n: int, val: float, test: float) -> Tuple[int, int, int]:
    """(train, val, test) videos of a class of ``n``: see the module docstring (train keeps one)."""
    n_val = min(_share(n, val), n - 1)
    n_test = min(_share(n, test), n - 1 - n_val)
    return n - n_val - n_test, n_val, n_test


def split(data: Annotations, val: float, test: float, seed: int = 0) -> Annotations:
    """Split every class's videos into train / val / test (stratified, deterministic for ``seed``)."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise UsageError(f"--val {val} --test {test}: expected fractions from 0 that leave some videos "
                         "for training (val + test below 1)")
    data.splits = {s: [] for s in SPLITS}
    for name, videos in data.classes.items():
        order = sorted(videos)
        random.Random(f"{seed}:{name}").shuffle(order)  # a str seed is hashed the same everywhere
        _, n_val, n_test = split_counts(len(order), val, test)
        parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
        for s, paths in parts.items():
            data.splits[s] += [(path, name) for path in paths]
    for s in SPLITS:
        data.splits[s].sort()
    return data


def _write(path: str, lines: Sequence[str]) -> None:
    """Write ``lines`` to ``path`` whole or not at all (a temporary file renamed over it)."""
    write_text(path, "".join(f"{line}\n" for line in lines))


def write(data: Annotations, out: str) -> Dict[str, Optional[str]]:
    """Write the splits that hold videos and ``classnames.txt`` into ``out`` -> {split or "classnames":
    the file written, None for an empty split (a file left from an earlier run is removed)}."""
    os.makedirs(out, exist_ok=True)
    written: Dict[str, Optional[str]] = {}
    for s in SPLITS:
        path = os.path.join(out, f"{s}.csv")
        if data.splits[s]:
            _write(path, [f"{video}{SEPARATOR}{name}" for video, name in data.splits[s]])
            written[s] = path
        else:
            if os.path.exists(path):
                os.remove(path)
            written[s] = None
    written["classnames"] = os.path.join(out, CLASS_NAMES)
    _write(written["classnames"], sorted(data.classes))
    return written
