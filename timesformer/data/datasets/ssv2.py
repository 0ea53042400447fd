"""Something-Something V2: the official labels JSON and train/validation JSONs; videos or frames."""
import json
import os
from typing import List, Optional, Tuple

from .base import AnnotationError, VideoDataset, VideoRecord, register_dataset

LABELS = "something-something-v2-labels.json"
SPLIT_FILES = {"train": "something-something-v2-train.json",
               "val": "something-something-v2-validation.json",
               "test": "something-something-v2-validation.json"}


@register_dataset("ssv2")
class SSv2(VideoDataset):
    """SSv2: segment sampling, no flip (left/right is the label).

    A video ``id`` is read from the folder ``{PATH_PREFIX}/{id}`` of JPEG frames when it exists,
    otherwise from ``{PATH_PREFIX}/{id}.webm``.
    """

    sampling = "segment"
    flip_changes_label = True

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse the labels JSON ({template: index}) and the split JSON ([{id, template}, ...])."""
        with open(self.annotation_path(LABELS)) as f:
            labels = {name: int(index) for name, index in json.load(f).items()}
        class_names = [""] * len(labels)
        for name, index in labels.items():
            class_names[index] = name
        file = self.annotation_path(SPLIT_FILES[self.split])
        with open(file) as f:
            entries = json.load(f)
        records, frames = [], None
        for entry in entries:
            template = entry.get("template", "").replace("[", "").replace("]", "")
            if template not in labels:
                raise AnnotationError(f"{file}: video {entry.get('id')} has template {template!r}, "
                                      f"which is not in {LABELS}")
            if frames is None:  # one layout for the whole dataset
                frames = os.path.isdir(self.video_path(str(entry["id"])))
            rel = str(entry["id"]) if frames else f"{entry['id']}.webm"
            records.append(VideoRecord(self.video_path(rel), labels[template], name=str(entry["id"])))
        return records, class_names
