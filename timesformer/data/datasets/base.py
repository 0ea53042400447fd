"""One dataset class that decodes, samples and transforms; subclasses only parse annotations.

Training items are videos (one random clip each). Evaluation items are (video, view) pairs: view
``v`` of a video is temporal clip ``v // crops`` and spatial crop ``v % crops``. The crops of a
clip are consecutive items; the dataset keeps the last clip it decoded (resized, ready to crop), so
a clip is decoded once for all its crops when one process reads them in a row (the evaluation
loader sees to that across workers, ``build.EvalBatchSampler``); memory holds that one clip.
Clips are sampled inside each record's frame window (``start_frame``..``end_frame``, the whole
video by default).
Bad files are logged with their path and recorded, with what was done about them, in
``bad_file_log()`` (shared by all loader workers through a small log file). In training a bad file
is replaced by another video at most ``DATA.MAX_BAD_VIDEO_RETRIES`` times in a row; in any split,
more than ``DATA.MAX_BAD_VIDEO_FRACTION`` of the videos unusable stops the run.
"""
import logging
import os
import tempfile
import weakref
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from fvcore.common.config import CfgNode

from timesformer.errors import AnnotationError, BadVideosError

from .. import decoding, sampling, transforms
from ..protocol import EvalProtocol, eval_protocol
from . import cover
from .records import SPLITS, BadFile, VideoRecord, frame_window, label_indices, multi_hot

logger = logging.getLogger(__name__)

def _remove_log(path: str, owner_pid: int) -> None:
    """Delete the bad-file log, only in the process that created it (not in loader workers)."""
    if os.getpid() == owner_pid and os.path.exists(path):
        os.remove(path)


class VideoDataset(torch.utils.data.Dataset):
    """Base dataset; subclasses implement ``load_annotations`` and may set the class attributes."""

    name = "base"
    sampling = "clip"          # "clip" (Kinetics), "segment" (SSv2)
    test_sampling = None       # "cover" for HowTo100M; None = as ``sampling``
    flip_changes_label = False  # True for SSv2: DATA.RANDOM_FLIP must be False
    class_list = ""  # the annotation file naming the classes, when the dataset has one
    annotation_folder = "the folder holding it"  # what DATA.PATH_TO_DATA_DIR should be, for errors
    # Evaluation: the crops of a temporal clip share one decode (False: each view decodes its clip
    # itself, the slower per-crop path, for tests and tools/benchmark_data.py --compare).
    reuse_decoded_clips = True

    def __init__(self, cfg: CfgNode, split: str):
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {SPLITS}")
        self.cfg, self.split, self.train = cfg, split, split == "train"
        self.records, self.class_names = self._listed()
        self.num_classes = len(self.class_names) if self.class_names else cfg.MODEL.NUM_CLASSES
        self.multi_label = cfg.DATA.MULTI_LABEL
        self._check_labels()
        self.protocol = self.eval_protocol(cfg, split)  # which clips and crops evaluation scores
        self._crops = self.protocol.spatial_crops
        self._lengths: Dict[int, Tuple[int, float]] = {}  # probed (frames, fps), corrected by decoding
        self._cover_views: List[int] = []
        if self.protocol.method == "cover":  # fixed now, the same on every rank (see cover.py)
            self._lengths = cover.plan_lengths(self.records, cfg, self.protocol, f"the {self.name} {split} annotation")
            self._cover_views = [self._num_cover_clips(i) for i in range(self.num_videos)]
        self._items = self._build_items()
        self._read_options = decoding.read_options(cfg.DATA)
        self._last_clip: Optional[Tuple[Tuple[int, int], object]] = None  # (video, clip) -> frames or error
        fd, self._bad_log = tempfile.mkstemp(prefix=f"timesformer_bad_{self.name}_{split}_", suffix=".log")
        os.close(fd)
        weakref.finalize(self, _remove_log, self._bad_log, os.getpid())  # also at interpreter exit
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # set_epoch; workers see it

    # ------------------------------------------------------------------ subclass API
    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse this split's annotation files -> (records, class names or None)."""
        raise NotImplementedError

    def _listed(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """``load_annotations``, and an AnnotationError when the split lists no video."""
        records, class_names = self.load_annotations()
        if not records:
            raise AnnotationError(f"{self.name} {self.split}: no videos listed under "
                                  f"DATA.PATH_TO_DATA_DIR = {self.cfg.DATA.PATH_TO_DATA_DIR!r} (see DATASET.md)")
        return records, class_names

    @classmethod
    def list_videos(cls, cfg: CfgNode, split: str) -> List[VideoRecord]:
        """The videos ``split``'s annotation files list, read without building the dataset: no label
        checked, no video opened (tools/extract_features.py needs only the files)."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {SPLITS}")
        reader = cls.__new__(cls)  # load_annotations reads only cfg and split
        reader.cfg, reader.split, reader.train = cfg, split, split == "train"
        return reader._listed()[0]

    @classmethod
    def count_videos(cls, cfg: CfgNode, split: str) -> int:
        """Videos ``split`` lists, from its annotation files alone: nothing is decoded, probed or
        written (a run plan counts its iterations from it). AnnotationError as building would."""
        return len(cls.list_videos(cfg, split))

    @classmethod
    def eval_protocol(cls, cfg: CfgNode, split: str = "test") -> EvalProtocol:
        """The clips and crops ``split`` scores per video (also what tools/predict.py scores)."""
        method = (cls.test_sampling or cls.sampling) if split == "test" else cls.sampling
        return eval_protocol(cfg, cls.name, method, split)

    def annotation_path(self, file_name: str) -> str:
        """A file under DATA.PATH_TO_DATA_DIR, with a clear error when it is missing."""
        path = os.path.join(self.cfg.DATA.PATH_TO_DATA_DIR, file_name)
        if not os.path.isfile(path):
            raise AnnotationError(f"{self.name} {self.split}: annotation file {path} not found; set "
                                  f"DATA.PATH_TO_DATA_DIR to {self.annotation_folder} (see DATASET.md)")
        return path

    def video_path(self, relative: str) -> str:
        """Annotation path -> file path (DATA.PATH_PREFIX prepended)."""
        return os.path.join(self.cfg.DATA.PATH_PREFIX, relative)

    def _check_labels(self) -> None:
        """Every label indexes a class; the first that does not is an error naming its file and line.
        Multi-hot targets must be as wide as the model's head: the class list's length is
        MODEL.NUM_CLASSES."""
        names = self.class_list or f"the {self.name} class list"
        if self.multi_label and self.num_classes != self.cfg.MODEL.NUM_CLASSES:
            raise AnnotationError(f"{self.name} {self.split}: {names} names {self.num_classes} classes but "
                                  f"MODEL.NUM_CLASSES = {self.cfg.MODEL.NUM_CLASSES}; with DATA.MULTI_LABEL the "
                                  f"targets have one entry per class: set MODEL.NUM_CLASSES {self.num_classes}")
        bad = next(((r, k) for r in self.records for k in label_indices(r.label) if not 0 <= k < self.num_classes),
                   None)
        if bad is None:
            return
        if self.class_names:
            counted, fix = f"the {self.num_classes} classes of {names}", names
        else:
            counted, fix = f"MODEL.NUM_CLASSES = {self.num_classes}", "MODEL.NUM_CLASSES"
        r, k = bad
        raise AnnotationError(f"{r.source or f'{self.name} {self.split}'}: label {k} of "
                              f"{r.name or r.path} is outside 0..{self.num_classes - 1} ({counted}); "
                              f"fix the label or {fix}")

    # ------------------------------------------------------------------ public API
    @property
    def num_videos(self) -> int:
        """Videos in this split."""
        return len(self.records)

    def video_name(self, i: int) -> str:
        """Name of video ``i`` as written in the annotations."""
        return self.records[i].name or self.records[i].path

    def video_label(self, i: int) -> Union[int, Tuple[int, ...]]:
        """Class index of video ``i`` (with DATA.MULTI_LABEL a video_list may give a tuple of them)."""
        return self.records[i].label

    def video_target(self, i: int) -> Union[int, torch.Tensor]:
        """Video ``i``'s target as its items carry it ("label"): the class index, or with
        DATA.MULTI_LABEL a multi-hot float32 (num_classes,) (a single label gives a one-hot one)."""
        label = self.records[i].label
        return multi_hot(label, self.num_classes) if self.multi_label else label

    def num_views(self, i: int) -> int:
        """Views (temporal clips x spatial crops) of video ``i`` in this split."""
        return 1 if self.train else self._temporal_views(i) * self._crops

    @property
    def bad_files(self) -> List[str]:
        """Paths of files that could not be used (replaced or skipped), in order found, each once."""
        return list(self._unusable())

    def bad_file_log(self) -> List[BadFile]:
        """Every bad file found so far by any worker, in order, once per kind.

        ``kind`` keeps apart what the engine reports separately: "replaced" (unreadable in training,
        another video was used), "skipped" (unreadable in evaluation, its views have valid=False)
        and "truncated" (far fewer frames decode than its duration promises; those frames are used).
        A truncated file that later fails altogether has both entries.
        """
        out: Dict[Tuple[str, str], BadFile] = {}
        if os.path.exists(self._bad_log):
            with open(self._bad_log) as f:
                for line in f:
                    path, kind, reason = line.rstrip("\n").split("\t", 2)
                    out.setdefault((path, kind), BadFile(path, kind, reason))
        return list(out.values())

    def frame_window(self, i: int, num_frames: int) -> Tuple[int, int]:
        """(first frame, frame count) of video ``i`` (``num_frames`` long) that clips come from.

        The record's [start_frame, end_frame] cut at the video's end (``records.frame_window``).
        """
        r = self.records[i]
        return frame_window(r.path, r.start_frame, r.end_frame, num_frames)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, idx: int) -> dict:
        video, view = self._items[idx]
        if self.train:
            return self._train_item(video)
        return self._eval_item(video, view)

    # ------------------------------------------------------------------ items and views
    def _build_items(self) -> List[Tuple[int, int]]:
        if self.train:
            return [(i, 0) for i in range(self.num_videos)]
        return [(i, v) for i in range(self.num_videos) for v in range(self.num_views(i))]

    def _temporal_views(self, i: int) -> int:
        if self.protocol.method != "cover":
            return self.protocol.temporal_views
        return self._cover_views[i]

    def _num_cover_clips(self, i: int) -> int:
        """Clips covering video ``i``'s window at its length known so far (1 if unreadable: reading
        it fails later with the reason)."""
        if i not in self._lengths:
            return 1
        num, fps = self._lengths[i]
        try:
            return self.protocol.num_clips(self.frame_window(i, num)[1], fps)
        except decoding.DecodeError:
            return 1

    # ------------------------------------------------------------------ loading
    def set_epoch(self, epoch: int) -> None:
        """The epoch training items draw their random clips for (persistent loader workers see it too)."""
        self._epoch.fill_(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        """Item ``index``'s generator, from (RNG_SEED, epoch, index) alone: its clip does not depend on
        which loader worker reads it or on what was read before (exact resumption)."""
        return np.random.default_rng([self.cfg.RNG_SEED % 2 ** 32, int(self._epoch), index])

    def _length(self, i: int) -> Tuple[int, float]:
        if i not in self._lengths:
            info = decoding.probe(self.records[i].path, self.cfg.DATA.FRAMES_FPS)
            self._lengths[i] = (info.num_frames, info.fps)
        return self._lengths[i]

    def _indices(self, i: int, num_frames: int, fps: float, temporal: Optional[int], rng) -> List[int]:
        """Temporal clip ``temporal`` of video ``i``'s evaluation protocol (``num_frames`` in its
        window), or a random training clip (None)."""
        if temporal is not None:
            return self.protocol.clip(num_frames, fps, temporal, self._temporal_views(i))
        d = self.cfg.DATA
        if self.sampling == "segment":
            return sampling.segment_indices(num_frames, d.NUM_FRAMES, rng=rng)
        return sampling.clip_indices(num_frames, fps, d.NUM_FRAMES, d.SAMPLING_RATE, d.TARGET_FPS, rng=rng)

    def read_clip(self, i: int, temporal: Optional[int], rng) -> np.ndarray:
        """Frames (T, H, W, C) uint8 of temporal clip ``temporal`` (None = random) of video ``i``.

        A cover view past what the video really decodes raises ``cover.ViewPastEnd``."""
        path = self.records[i].path
        num, fps = self._length(i)
        try:
            return self._read_window(i, num, fps, temporal, rng)
        except decoding.ShortVideo as e:
            if decoding.is_truncated(e.num_frames, num):
                self._report_bad(path, f"only {e.num_frames} of the ~{num} frames its duration "
                                       "promises decode; using those", "truncated")
            num = e.num_frames
            self._lengths[i] = (num, fps)
        try:
            return self._read_window(i, num, fps, temporal, rng)
        except decoding.ShortVideo as e2:
            raise decoding.DecodeError(path, f"decodes {e2.num_frames} frames, then fewer") from e2

    def _read_window(self, i: int, num: int, fps: float, temporal: Optional[int], rng) -> np.ndarray:
        """Sample the clip inside video ``i``'s frame window (of its ``num`` frames) and decode it."""
        first, count = self.frame_window(i, num)
        if self.protocol.method == "cover" and temporal >= self.protocol.num_clips(count, fps):
            raise cover.ViewPastEnd(f"view {temporal} of {self.records[i].path} starts past its "
                                    f"{count} decodable frames")
        indices = [first + k for k in self._indices(i, count, fps, temporal, rng)]
        return decoding.read_frames(self.records[i].path, indices, **self._read_options)

    def _report_bad(self, path: str, reason: str, kind: str) -> None:
        logger.warning("bad video %s (%s): %s", path, kind, reason)
        with open(self._bad_log, "a") as f:
            f.write(f"{path}\t{kind}\t{reason}\n")

    def _unusable(self) -> Dict[str, str]:
        """{path: reason} of the files replaced or skipped so far, in order found."""
        out: Dict[str, str] = {}
        for bad in self.bad_file_log():
            if bad.kind != "truncated":
                out.setdefault(bad.path, bad.reason)
        return out

    def _check_bad_fraction(self) -> None:
        """Stop once more than DATA.MAX_BAD_VIDEO_FRACTION of the split's videos could not be used."""
        limit, bad = self.cfg.DATA.MAX_BAD_VIDEO_FRACTION, self._unusable()
        if len(bad) > limit * self.num_videos:
            raise BadVideosError(
                f"{len(bad)} of the {self.num_videos} videos of {self.name} {self.split} are bad "
                f"({len(bad) / self.num_videos:.1%}, more than DATA.MAX_BAD_VIDEO_FRACTION = {limit}); "
                "fix or remove them (tools/check_videos.py lists them), or raise the fraction:\n"
                + "\n".join(f"{path}: {reason}" for path, reason in bad.items()))

    def _sample(self, video: int, view: int, frames: torch.Tensor, replaced: int, valid: bool,
                decoded: int) -> dict:
        """One item; ``frames`` (C, T, H, W) RGB leave in the model's DATA.INPUT_CHANNEL_ORDER;
        ``decoded``: frames decoded to make it (0 when it reused a clip decoded for another view)."""
        frames = transforms.to_channel_order(frames, self.cfg.DATA.INPUT_CHANNEL_ORDER)
        return {"frames": frames, "label": self.video_target(video), "video_index": video,
                "view_index": view, "num_replaced": replaced, "valid": valid, "frames_decoded": decoded}

    def _unscored(self, video: int, view: int, decoded: int) -> dict:
        """A view with zero frames and valid=False: the evaluator leaves it out."""
        d = self.cfg.DATA
        empty = torch.zeros(3, d.NUM_FRAMES, d.TEST_CROP_SIZE, d.TEST_CROP_SIZE, dtype=torch.uint8)
        return self._sample(video, view, empty, 0, False, decoded)

    def _train_item(self, video: int) -> dict:
        d, aug, rng = self.cfg.DATA, self.cfg.AUG, self._rng(video)
        failed: List[str] = []
        before = decoding.frames_decoded()
        while True:
            try:
                frames = transforms.to_tchw(self.read_clip(video, None, rng))
                break
            except decoding.DecodeError as e:
                failed.append(f"{e.path}: {e.reason}")
                self._report_bad(e.path, e.reason, "replaced")
                self._check_bad_fraction()
                if len(failed) > d.MAX_BAD_VIDEO_RETRIES:
                    raise BadVideosError(
                        f"{len(failed)} bad videos in a row (more than DATA.MAX_BAD_VIDEO_RETRIES = "
                        f"{d.MAX_BAD_VIDEO_RETRIES}); fix or remove them (tools/check_videos.py lists "
                        "them):\n" + "\n".join(failed)) from e
                video = int(rng.integers(self.num_videos))
        frames = transforms.train_transform(
            frames, d.TRAIN_JITTER_SCALES, d.TRAIN_CROP_SIZE, d.RANDOM_FLIP, rng,
            aug.AA_TYPE if aug.ENABLE else "", aug.RE_PROB if aug.ENABLE else 0.0)
        return self._sample(video, 0, frames, len(failed), True, decoding.frames_decoded() - before)

    def _eval_item(self, video: int, view: int) -> dict:
        p = self.protocol
        clip, decoded = self._eval_clip(video, view // self._crops)
        if isinstance(clip, cover.ViewPastEnd):  # the video decodes fewer cover clips than planned: not scored
            return self._unscored(video, view, decoded)
        if isinstance(clip, decoding.DecodeError):
            if self.split == "test" and not self.cfg.TEST.SKIP_BAD_VIDEOS:
                raise BadVideosError(f"{clip}. Fix or remove the file, or set TEST.SKIP_BAD_VIDEOS True to "
                                     "skip it (it is then reported in the results)") from clip
            self._report_bad(clip.path, clip.reason, "skipped")
            self._check_bad_fraction()
            return self._unscored(video, view, decoded)
        frames = transforms.eval_crop(clip, p.crop_size, p.crop_positions[view % self._crops])
        return self._sample(video, view, frames, 0, True, decoded)

    def _eval_clip(self, video: int, temporal: int) -> Tuple[object, int]:
        """(Temporal clip ``temporal`` of ``video`` resized for cropping (T, C, H, W) uint8, or the
        ViewPastEnd / DecodeError reading it raised; frames decoded for it now, 0 if it was kept).

        The last clip is kept (``reuse_decoded_clips``), its failure too, so the clip's other crops
        neither decode it again nor read a bad file again."""
        key = (video, temporal)
        if self.reuse_decoded_clips and self._last_clip is not None and self._last_clip[0] == key:
            return self._last_clip[1], 0
        self._last_clip = None  # free the old clip before decoding the next one
        before = decoding.frames_decoded()
        try:
            clip = transforms.to_tchw(self.read_clip(video, temporal, None))
            result: object = transforms.resize_short_side(clip, self.protocol.short_side)
        except (cover.ViewPastEnd, decoding.DecodeError) as e:
            result = e
        self._last_clip = (key, result)
        return result, decoding.frames_decoded() - before
