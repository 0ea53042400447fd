"""Diving-48 (V2): ``Diving48_V2_{train,test}.json`` (vid_name, label, start_frame, end_frame).

Clips are sampled only inside [start_frame, end_frame] (inclusive) of each video.
"""
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
            start, end = entry.get("start_frame", 0), entry.get("end_frame")
            valid_end = end is None or (isinstance(end, int) and end >= start)
            if not (isinstance(start, int) and start >= 0 and valid_end):
                raise AnnotationError(f"{file}: entry {k} ({name}) has start_frame {start!r}, end_frame "
                                      f"{end!r}; expected integers with 0 <= start_frame <= end_frame")
            records.append(VideoRecord(self.video_path(f"{name}.mp4"), int(entry["label"]), name=name,
                                       start_frame=start, end_frame=end))
        return records, self._class_names()

    def _class_names(self) -> Optional[List[str]]:
        """``Diving48_vocab.json`` (a list of [takeoff, somersault, twist, flight]) when present."""
        try:
            file = self.annotation_path(VOCAB)
        except AnnotationError:
            return None
        with open(file) as f:
            return [" ".join(str(x) for x in entry) for entry in json.load(f)]
