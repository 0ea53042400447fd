"""Diving-48 (V2): ``Diving48_V2_{train,test}.json`` (vid_name, label, start_frame, end_frame).

Clips are sampled only inside [start_frame, end_frame] (inclusive) of each video.
"""
from typing import List, Optional, Tuple

from timesformer.errors import AnnotationError

from .base import VideoDataset
from .csv_utils import json_int, read_json_list
from .records import VideoRecord, register_dataset

VOCAB = "Diving48_vocab.json"


@register_dataset("diving48")
class Diving48(VideoDataset):
    """Diving-48 clips ``{PATH_PREFIX}/{vid_name}.mp4`` (the released, already trimmed videos)."""

    class_list = VOCAB

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse the official V2 JSON of the split (val and test both read the test file)."""
        file = self.annotation_path(f"Diving48_V2_{'train' if self.split == 'train' else 'test'}.json")
        records = []
        for k, entry in enumerate(read_json_list(file, "videos {vid_name, label, start_frame, end_frame}")):
            if not isinstance(entry, dict) or "vid_name" not in entry or "label" not in entry:
                raise AnnotationError(f"{file}: entry {k} lacks 'vid_name' or 'label': {entry!r}")
            name, label = entry["vid_name"], json_int(entry["label"])
            if label is None:
                raise AnnotationError(f"{file}: entry {k} ({name}): label {entry['label']!r} is not an integer")
            start, end = entry.get("start_frame", 0), entry.get("end_frame")
            valid_end = end is None or (isinstance(end, int) and end >= start)
            if not (isinstance(start, int) and start >= 0 and valid_end):
                raise AnnotationError(f"{file}: entry {k} ({name}) has start_frame {start!r}, end_frame "
                                      f"{end!r}; expected integers with 0 <= start_frame <= end_frame")
            records.append(VideoRecord(self.video_path(f"{name}.mp4"), label, name=name, start_frame=start,
                                       end_frame=end, source=f"{file}: entry {k}"))
        return records, self._class_names()

    def _class_names(self) -> Optional[List[str]]:
        """``Diving48_vocab.json`` (a list of [takeoff, somersault, twist, flight]) when present."""
        try:
            file = self.annotation_path(VOCAB)
        except AnnotationError:
            return None
        vocab = read_json_list(file, "class names, each a list of words")
        for k, entry in enumerate(vocab):
            if not isinstance(entry, list):
                raise AnnotationError(f"{file}: entry {k} is {entry!r}, not a list of words (as "
                                      "[takeoff, somersault, twist, flight])")
        return [" ".join(str(x) for x in entry) for entry in vocab]
