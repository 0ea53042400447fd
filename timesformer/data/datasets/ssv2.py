"""Something-Something V2: the official labels JSON and train/validation JSONs; videos or frames."""
import os
from typing import Dict, List, Optional, Tuple

from timesformer.errors import AnnotationError

from .base import VideoDataset
from .csv_utils import json_int, read_json, read_json_list
from .records import VideoRecord, register_dataset

LABELS = "something-something-v2-labels.json"
SPLIT_FILES = {"train": "something-something-v2-train.json",
               "val": "something-something-v2-validation.json",
               "test": "something-something-v2-validation.json"}


def read_labels(file: str) -> Dict[str, int]:
    """The labels JSON {template: index}: indices integers (or strings of them, as released)
    numbering the K templates 0..K-1, each index and each template once."""
    pairs = read_json(file, object_pairs_hook=tuple)  # an object -> ((template, index), ...), in order
    if not isinstance(pairs, tuple):
        raise AnnotationError(f"{file}: expected an object {{template: index}}, got a JSON {type(pairs).__name__}")
    labels: Dict[str, int] = {}
    owner: Dict[int, int] = {}  # index -> the entry that gave it
    for k, (name, value) in enumerate(pairs):
        where, index = f"{file}: entry {k} ({name!r})", json_int(value, strings=True)
        if name in labels:
            raise AnnotationError(f"{file}: entry {k}: template {name!r} is also entry {list(labels).index(name)}; "
                                  "list each template once")
        if index is None:
            raise AnnotationError(f"{where}: index {value!r} is not an integer")
        if not 0 <= index < len(pairs):
            raise AnnotationError(f"{where}: index {index} is outside 0..{len(pairs) - 1}; the {len(pairs)} "
                                  f"templates must be numbered 0..{len(pairs) - 1}, each index once")
        if index in owner:
            raise AnnotationError(f"{where}: index {index} is also entry {owner[index]}'s; each index once")
        labels[name], owner[index] = index, k
    return labels


@register_dataset("ssv2")
class SSv2(VideoDataset):
    """SSv2: segment sampling, no flip (left/right is the label).

    A video ``id`` is read from the folder ``{PATH_PREFIX}/{id}`` of JPEG frames when it exists,
    otherwise from ``{PATH_PREFIX}/{id}.webm``.
    """

    sampling = "segment"
    flip_changes_label = True
    class_list = LABELS

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse the labels JSON ({template: index}) and the split JSON ([{id, template}, ...])."""
        labels = read_labels(self.annotation_path(LABELS))
        file = self.annotation_path(SPLIT_FILES[self.split])
        records, frames = [], None
        for k, entry in enumerate(read_json_list(file, "videos {id, template, ...}")):
            if not isinstance(entry, dict):
                raise AnnotationError(f"{file}: entry {k} is {entry!r}, not an object {{id, template, ...}}")
            if "id" not in entry:
                raise AnnotationError(f"{file}: entry {k} lacks 'id'")
            if "template" not in entry:
                raise AnnotationError(f"{file}: entry {k} (video {entry['id']}) lacks 'template', which names "
                                      f"its class in {LABELS}")
            vid, template = str(entry["id"]), str(entry["template"]).replace("[", "").replace("]", "")
            if template not in labels:
                raise AnnotationError(f"{file}: entry {k} (video {vid}) has template {template!r}, which is "
                                      f"not in {LABELS}")
            if frames is None:  # one layout for the whole dataset
                frames = os.path.isdir(self.video_path(vid))
            records.append(VideoRecord(self.video_path(vid if frames else f"{vid}.webm"), labels[template],
                                       name=vid, source=f"{file}: entry {k}"))
        return records, sorted(labels, key=labels.get)
