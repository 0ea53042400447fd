"""Diving-48 (V2): ``Diving48_V2_{train,test}.json`` (vid_name, label, start_frame, end_frame)."""
import json
from typing import List, Optional, Tuple

from .base import AnnotationError, VideoDataset, VideoRecord, register_dataset

VOCAB = "Diving48_vocab.json"


@register_dataset("diving48")
class Diving48(VideoDataset):
    """Diving-48 clips ``{PATH_PREFIX}/{vid_name}.mp4`` (the released, already trimmed videos)."""

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse the official V2 JSON of the split (val and test both read the test file)."""
        file = self.annotation_path(f"Diving48_V2_{'train' if self.split == 'train' else 'test'}.json")
        with open(file) as f:
            entries = json.load(f)
        records = []
        for k, entry in enumerate(entries):
            if not isinstance(entry, dict) or "vid_name" not in entry or "label" not in entry:
                raise AnnotationError(f"{file}: entry {k} {entry!r} lacks 'vid_name' or 'label'")
            name = entry["vid_name"]
            records.append(VideoRecord(self.video_path(f"{name}.mp4"), int(entry["label"]), name=name))
        return records, self._class_names()

    def _class_names(self) -> Optional[List[str]]:
        """``Diving48_vocab.json`` (a list of [takeoff, somersault, twist, flight]) when present."""
        try:
            file = self.annotation_path(VOCAB)
        except AnnotationError:
            return None
        with open(file) as f:
            return [" ".join(str(x) for x in entry) for entry in json.load(f)]
