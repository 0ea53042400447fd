"""What the datasets share besides their class: the registry of dataset names, one annotated video
(:class:`VideoRecord`), its label as indices or a multi-hot target, and a bad-file log entry."""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch

from timesformer.errors import DecodeError

DATASETS: Dict[str, type] = {}  # name -> a VideoDataset subclass
SPLITS = ("train", "val", "test")
# What happened to a bad file (BadFile.kind): unreadable and replaced by another video (training),
# unreadable and skipped, its views marked valid=False (evaluation), or truncated but used.
BAD_KINDS = ("replaced", "skipped", "truncated")


def register_dataset(name: str) -> Callable[[type], type]:
    """Class decorator: make a dataset available as TRAIN.DATASET / TEST.DATASET ``name``."""
    def wrap(cls):
        DATASETS[name] = cls
        cls.name = name
        return cls
    return wrap


def label_indices(label: Union[int, Sequence[int]]) -> Tuple[int, ...]:
    """The class indices of a record's label: one, or several with DATA.MULTI_LABEL."""
    return (label,) if isinstance(label, int) else tuple(label)


def multi_hot(label: Union[int, Sequence[int]], num_classes: int) -> torch.Tensor:
    """A multi-label target: float32 (num_classes,), 1 at the label's classes and 0 elsewhere."""
    target = torch.zeros(num_classes, dtype=torch.float32)
    target[list(label_indices(label))] = 1.0
    return target


@dataclass
class VideoRecord:
    """One annotated video: a file or frame folder, its label, optional known length."""

    path: str
    label: Union[int, Tuple[int, ...]]  # class index; with DATA.MULTI_LABEL a video_list may give several
    name: str = ""
    duration: Optional[float] = None  # seconds, when the annotation says (HowTo100M)
    start_frame: int = 0  # clips are sampled from this frame on (Diving-48's start_frame)
    end_frame: Optional[int] = None  # ... up to this frame, inclusive; None = the video's end
    source: str = ""  # where the annotation lists it, for errors: "file:line" or "file: entry k"


@dataclass(frozen=True)
class BadFile:
    """One entry of the bad-file log: the file, what was done about it (one of BAD_KINDS), why."""

    path: str
    kind: str
    reason: str


def frame_window(path: str, start_frame: int, end_frame: Optional[int], num_frames: int) -> Tuple[int, int]:
    """(first frame, frame count) that clips of a video ``num_frames`` long come from: the annotation's
    [start_frame, end_frame] cut at the video's end; a window that starts past the end is a
    DecodeError naming ``path``, so the video counts as bad."""
    end = num_frames if end_frame is None else min(num_frames, end_frame + 1)
    if end <= start_frame:
        raise DecodeError(path, f"the annotation's window starts at frame {start_frame} but the video has "
                                f"{num_frames} frames; fix its start_frame / end_frame in the annotation file")
    return start_frame, end - start_frame
