"""Scanning videos before a run (``tools/check_videos.py``): unreadable, truncated, shorter than a clip.

Every video is decoded to the end, or to its first decoding error (the header's frame count is not
trusted); that is the count training and testing use too. A split is checked through its dataset
(the annotation file, DATA.PATH_PREFIX and the frame windows it reads); files named directly (a
video, a folder of videos, a CSV of ``path label`` lines) are checked as whole videos, with the
config's clip length.
"""
import functools
import os
from typing import Callable, Dict, List, Sequence, Tuple

from fvcore.common.config import CfgNode

from timesformer.errors import DecodeError, UsageError

from .build import build_dataset
from .datasets import DATASETS
from .datasets.csv_utils import read_rows
from .decoding import IMAGE_EXTENSIONS, is_truncated, map_videos, scan_video
from .sampling import clip_span

# What a folder argument is searched for (recursively).
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv")

Report = Dict[str, object]  # {"checked": n, "unreadable": [(path, reason)], "truncated": [(path, frames,
#                               promised)], "short": [(path, frames, needed)]}


def _frames_needed(cfg: CfgNode, sampling: str, fps: float) -> int:
    """Frames one clip spans: NUM_FRAMES for segment sampling, else the clip's span at ``fps``."""
    d = cfg.DATA
    return d.NUM_FRAMES if sampling == "segment" else int(clip_span(d.NUM_FRAMES, d.SAMPLING_RATE, d.TARGET_FPS, fps))


def _scan(cfg: CfgNode, paths: List[str], workers: int, sampling: str,
          window: Callable[[int, int], int]) -> Report:
    """Decode ``paths`` in ``workers`` processes; ``window(i, frames)``: the frames clips of video i come from."""
    d = cfg.DATA
    scan = functools.partial(scan_video, backend=d.DECODING_BACKEND, frames_fps=d.FRAMES_FPS)
    report: Report = {"checked": len(paths), "unreadable": [], "truncated": [], "short": []}
    for i, (path, result) in enumerate(zip(paths, map_videos(scan, paths, workers), strict=True)):
        error = result.error
        if not error:
            try:
                frames = window(i, result.frames)
            except DecodeError as e:
                error = e.reason
        if error:
            report["unreadable"].append((path, error))
            continue
        if is_truncated(result.frames, result.info.num_frames):
            report["truncated"].append((path, result.frames, result.info.num_frames))
        needed = _frames_needed(cfg, sampling, result.info.fps)
        if frames < needed:
            report["short"].append((path, frames, needed))
    return report


def check_split(cfg: CfgNode, split: str, workers: int = 1) -> Report:
    """Every video of ``split`` as its dataset reads it (annotation file, frame windows)."""
    dataset = build_dataset(cfg, split)
    paths = [record.path for record in dataset.records]
    return _scan(cfg, paths, workers, dataset.sampling, lambda i, frames: dataset.frame_window(i, frames)[1])


def _listed(csv: str, cfg: CfgNode) -> List[str]:
    """The video paths of a ``path label`` CSV, DATA.PATH_PREFIX prepended as the datasets do."""
    return [os.path.join(cfg.DATA.PATH_PREFIX, fields[0])
            for _, fields in read_rows(csv, cfg.DATA.PATH_LABEL_SEPARATOR, min_fields=1)]


def is_frames(folder: str) -> bool:
    """A folder holding image files (JPEG/PNG) directly is one video, read as its frames."""
    return any(f.lower().endswith(IMAGE_EXTENSIONS) for f in os.listdir(folder))


def find_videos(folder: str) -> List[str]:
    """The videos under ``folder``, sorted: video files (VIDEO_EXTENSIONS) at any depth, and folders
    of frames (``is_frames``), each one video whose subfolders are not searched; ``[folder]`` when
    it is a folder of frames itself. Hidden files and folders (``.name``) are left out; a linked
    folder is searched once (a link back up the tree ends there)."""
    if is_frames(folder):
        return [folder]
    found, seen = [], {os.path.realpath(folder)}  # linked folders are followed, each once
    for parent, dirs, files in os.walk(folder, followlinks=True):
        search = []
        for d in sorted(dirs):
            path = os.path.join(parent, d)
            real = os.path.realpath(path)
            if d.startswith(".") or real in seen:
                continue
            seen.add(real)
            if is_frames(path):
                found.append(path)  # one video: its subfolders are not searched
            else:
                search.append(d)
        dirs[:] = search
        found += [os.path.join(parent, f) for f in files
                  if f.lower().endswith(VIDEO_EXTENSIONS) and not f.startswith(".")]
    return sorted(found)


def videos_at(path: str, cfg: CfgNode) -> List[str]:
    """The videos a PATH argument names: a video file or a folder of frames (images directly in it)
    itself, the videos under another folder (``find_videos``), or those a ``.csv``/``.txt``
    annotation file lists."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file or folder; give a video, a folder of videos or a CSV "
                                "of 'path label' lines")
    if os.path.isfile(path) and path.lower().endswith((".csv", ".txt")):
        return _listed(path, cfg)
    if os.path.isfile(path):
        return [path]
    found = find_videos(path)  # [path] itself when it is a folder of frames
    if not found:
        raise UsageError(f"{path}: a folder without video files ({', '.join(VIDEO_EXTENSIONS[:4])}, ...); "
                              "give a folder of videos, a video or a CSV of 'path label' lines")
    return found


def check_paths(cfg: CfgNode, paths: Sequence[str], workers: int = 1) -> Report:
    """Every video the PATH arguments name (``videos_at``), whole, with TRAIN.DATASET's clip sampling."""
    videos = [v for p in paths for v in videos_at(p, cfg)]
    sampling = DATASETS[cfg.TRAIN.DATASET].sampling
    return _scan(cfg, videos, workers, sampling, lambda i, frames: frames)


def summary(report: Report, what: str) -> Tuple[List[str], str]:
    """The lines a report prints: one per problem, then the counts for ``what`` (e.g. 'train')."""
    lines = [f"UNREADABLE {path}: {reason}" for path, reason in report["unreadable"]]
    lines += [f"TRUNCATED {path}: {frames} of the ~{promised} frames its duration promises decode"
              for path, frames, promised in report["truncated"]]
    lines += [f"SHORT {path}: {frames} frames, a clip spans {needed} (frames will repeat)"
              for path, frames, needed in report["short"]]
    return lines, (f"checked {report['checked']} videos of {what}: {len(report['unreadable'])} unreadable, "
                   f"{len(report['short'])} shorter than a clip, {len(report['truncated'])} truncated")

