"""UCF101 from its official split files (``ucfTrainTestlist/``): ``classInd.txt`` (``1 ApplyEyeMakeup``),
``trainlist0N.txt`` (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``) and ``testlist0N.txt`` (the path
alone), N = DATA.OFFICIAL_SPLIT. A video's class is the folder its path starts with."""
from typing import List, Optional, Tuple

from timesformer.errors import AnnotationError

from .base import VideoDataset
from .csv_utils import parse_number, read_rows
from .records import VideoRecord, register_dataset

CLASS_INDEX = "classInd.txt"


@register_dataset("ucf101")
class UCF101(VideoDataset):
    """UCF101 videos ``{PATH_PREFIX}/{Class}/v_{Class}_gGG_cCC.avi``; val reads the test list (there is
    no official validation list)."""

    class_list = CLASS_INDEX
    annotation_folder = "the unpacked ucfTrainTestlist folder (classInd.txt, trainlist01.txt, ...)"

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse classInd.txt and the split's train or test list."""
        names = self._class_names()
        by_name = {name.casefold(): i for i, name in enumerate(names)}
        file = self.annotation_path(f"{'train' if self.train else 'test'}list{self.cfg.DATA.OFFICIAL_SPLIT:02d}.txt")
        records = []
        for n, fields in read_rows(file, " ", min_fields=1):
            path, where = fields[0], f"{file}:{n}"
            folder = path.replace("\\", "/").split("/")[0]
            label = by_name.get(folder.casefold())
            if label is None:
                raise AnnotationError(f"{where}: the folder of {path} ({folder!r}) is not a class of {CLASS_INDEX}; "
                                      "use the split files and the classInd.txt published together")
            given = parse_number(file, n, fields[1]) if len(fields) == 2 else label + 1
            if given != label + 1:
                said = f"{names[given - 1]!r} in {CLASS_INDEX}" if 0 < given <= len(names) else "no class"
                raise AnnotationError(f"{where}: label {given} ({said}) contradicts the folder of {path} "
                                      f"({names[label]!r}); use the split files and classInd.txt published together")
            records.append(VideoRecord(self.video_path(path), label, name=path, source=where))
        return records, names

    def _class_names(self) -> List[str]:
        """classInd.txt's names, in its (1-based, consecutive) order."""
        file = self.annotation_path(CLASS_INDEX)
        names: List[str] = []
        for n, (index, name) in read_rows(file, " "):
            if parse_number(file, n, index, what="class index") != len(names) + 1:
                raise AnnotationError(f"{file}:{n}: class index {index}, expected {len(names) + 1} (the classes "
                                      "are numbered 1, 2, ... in order)")
            names.append(name)
        return names
