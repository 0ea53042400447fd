"""The output folder of a feature extraction: file names, atomic array files, the manifest.

- A video's output name is its path as the annotation writes it (relative to DATA.PATH_PREFIX, the
  data root), normalised, with every '/' turned into '__' and the extension kept:
  ``abseiling/x.mp4`` -> ``abseiling__x.mp4.npy`` (``abseiling__x.mp4.tokens.npy`` with --tokens).
  Two different videos of a split that would get the same file are an AnnotationError before any
  work (no overwriting); the same path listed twice is extracted once.
- Arrays are written into ``FILE.tmp`` (a .npy, appended one clip batch at a time) and
  renamed onto ``FILE`` when complete, the features file last: a video is finished exactly when its
  features file (and, with --tokens, its tokens file) exists, and a rerun skips it.
- Each process appends the manifest line of a video to its own ``manifest.parts/rank<R>.jsonl``
  (flushed and synced) just before the renames, and a failure line for a video it could not read.
  Rank 0 merges the parts into ``manifest.jsonl`` at the start of a run (what an interrupted run
  left) and at its end, once every process has marked its share done (``rank<R>.done``: a file,
  not a collective, which would time out while a slower rank works on): one line per finished
  video, this split's in split order, then any others earlier runs wrote into the folder; a line
  whose files are gone is dropped. The videos that failed in this run are listed in
  ``failed.jsonl`` (removed when none did).
"""
import glob
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from timesformer.errors import AnnotationError
from timesformer.utils.files import commit, write_text
from timesformer.utils.strict_json import dumps

logger = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
FAILED = "failed.jsonl"
PARTS = "manifest.parts"
TMP = ".tmp"  # suffix of an array file being written
DONE = ".done"  # manifest.parts/rank<R>.done: process R has finished its share


@dataclass(frozen=True)
class SplitVideo:
    """One video of the split to extract: where it is listed, its file, its output name."""

    index: int  # position in the split's annotation (after dropping repeated paths)
    name: str  # as the annotation writes it
    path: str  # the file or frame folder (DATA.PATH_PREFIX prepended)
    out: str  # output name: the features go to ``out + ".npy"``
    start_frame: int = 0  # clips come from this window of the video (Diving-48)
    end_frame: Optional[int] = None

    @property
    def features_file(self) -> str:
        """The (clips, D) array's file name in the output folder."""
        return f"{self.out}.npy"

    @property
    def tokens_file(self) -> str:
        """The (clips, N, D) patch tokens' file name in the output folder (--tokens)."""
        return f"{self.out}.tokens.npy"

    def files(self, tokens: bool) -> List[str]:
        """The file names a finished extraction of this video has (the tokens' with ``tokens``)."""
        return [self.features_file] + ([self.tokens_file] if tokens else [])


def output_name(name: str) -> str:
    """A video's path as its annotation writes it -> its output name: '/' -> '__' ('a/b.mp4' -> 'a__b.mp4')."""
    parts = os.path.normpath(name.replace("\\", "/")).replace(os.sep, "/").split("/")
    return "__".join(p for p in parts if p not in ("", "."))


def split_videos(records: Sequence[Any], tokens: bool) -> List[SplitVideo]:
    """VideoRecords -> the videos to extract, each output file claimed by one path; a repeated path
    is kept once, two paths that would share a file are an AnnotationError naming both."""
    videos: List[SplitVideo] = []
    owner: Dict[str, Any] = {}  # output file -> the record that claims it
    repeated = 0
    for r in records:
        video = SplitVideo(len(videos), r.name or r.path, r.path, output_name(r.name or r.path), r.start_frame,
                           r.end_frame)
        files = video.files(tokens)
        clash = next((owner[f] for f in files if f in owner), None)
        if clash is not None and clash.path == r.path:
            repeated += 1
            continue
        if clash is not None:
            raise AnnotationError(f"{clash.source or clash.path} ({clash.name or clash.path}) and {r.source or r.path} "
                                  f"({r.name or r.path}) would both be written to {files[0]} (the output name is "
                                  "the listed path with '/' turned into '__'); rename one of the two videos")
        owner.update({f: r for f in files})
        videos.append(video)
    if repeated:
        logger.info("%d paths are listed more than once; each is extracted once", repeated)
    return videos


class ArrayFile:
    """A float32 .npy of known shape written row block after row block, in order (no memory map:
    memory holds one block, the page cache nothing it must keep), that appears under its name only
    once complete (``commit``)."""

    def __init__(self, path: str, shape: Tuple[int, ...]):
        self.path, self.tmp, self.shape, self.rows = path, path + TMP, tuple(shape), 0
        self.file = open(self.tmp, "wb")  # noqa: SIM115 (closed by commit or discard)
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self.file, header)

    def write(self, start: int, rows: np.ndarray) -> None:
        """Rows ``start``.. (the next ones: blocks come in order) of shape (n, *shape[1:])."""
        if start != self.rows or tuple(rows.shape[1:]) != self.shape[1:] or start + len(rows) > self.shape[0]:
            raise ValueError(f"{self.path}: rows {start}..{start + len(rows)} of shape {tuple(rows.shape[1:])} do "
                             f"not continue {self.rows} rows of {self.shape}")
        self.file.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())
        self.rows += len(rows)

    def commit(self) -> None:
        """Check that every row is there, then flush and rename onto the final name."""
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.path}: {self.rows} of {self.shape[0]} rows written")
        self.file.close()
        commit(self.tmp, self.path)

    def discard(self) -> None:
        """Remove the unfinished file."""
        self.file.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def is_finished(out_dir: str, video: SplitVideo, tokens: bool) -> bool:
    """The video's files are all there (each appears only complete)."""
    return _all_exist(out_dir, video.files(tokens))


class ManifestPart:
    """One process's manifest lines of this run: ``manifest.parts/rank<R>.jsonl``, appended and synced."""

    def __init__(self, out_dir: str, rank: int):
        os.makedirs(os.path.join(out_dir, PARTS), exist_ok=True)
        self.path = os.path.join(out_dir, PARTS, f"rank{rank}.jsonl")

    def add(self, record: Dict[str, Any]) -> None:
        """Append one line; on disk before this returns."""
        with open(self.path, "a") as f:
            f.write(dumps(record) + "\n")  # strict JSON: a NaN is null
            f.flush()
            os.fsync(f.fileno())


def _read_lines(path: str) -> List[Dict[str, Any]]:
    """The records of a JSON lines file; a line cut short by a kill is dropped with a warning."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("%s line %d is not a JSON record (a write cut short by a kill?); dropped", path, n)
    return out


def _all_exist(out_dir: str, files: Sequence[str]) -> bool:
    return all(os.path.exists(os.path.join(out_dir, f)) for f in files)


def _exists(out_dir: str, record: Dict[str, Any]) -> bool:
    """The files a manifest line names are there."""
    return _all_exist(out_dir, [record["file"]] + ([record["tokens_file"]] if "tokens_file" in record else []))


def merge_manifest(out_dir: str, videos: Sequence[SplitVideo], tokens: bool = False,
                   describe: Optional[Callable[[SplitVideo], Dict[str, Any]]] = None
                   ) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Rank 0: ``manifest.jsonl`` and the parts -> (the finished videos' lines, the failures in the
    parts), the manifest rewritten atomically and the parts removed. A later line of a video replaces
    an earlier one; lines whose files are gone are dropped, failures of videos since finished too.
    ``describe``: makes the line of a finished video of ``videos`` that has none (a deleted manifest)."""
    part_files = sorted(glob.glob(os.path.join(glob.escape(out_dir), PARTS, "*.jsonl")))
    done: Dict[str, Dict[str, Any]] = {}
    failed: Dict[str, Dict[str, Any]] = {}
    for path in [os.path.join(out_dir, MANIFEST), *part_files]:
        for record in _read_lines(path):
            if "error" in record:
                failed[record["video"]] = record
            else:
                done[record["file"]] = record
    done = {f: r for f, r in done.items() if _exists(out_dir, r)}
    if describe is not None:
        for v in videos:
            if v.features_file not in done and is_finished(out_dir, v, tokens):
                logger.info("%s: features there but no manifest line; planning its clips again", v.name)
                done[v.features_file] = describe(v)
    order = {v.features_file: v.index for v in videos}
    lines = sorted(done.values(), key=lambda r: order.get(r["file"], len(order)))  # stable: the others keep order
    write_text(os.path.join(out_dir, MANIFEST), "".join(dumps(r) + "\n" for r in lines))
    for path in part_files + glob.glob(os.path.join(glob.escape(out_dir), PARTS, f"*{DONE}")):
        os.remove(path)
    finished = {r["video"] for r in lines}
    position = {v.name: v.index for v in videos}
    failures = sorted((r for v, r in failed.items() if v not in finished), key=lambda r: position.get(r["video"], 0))
    return lines, failures


def write_failures(out_dir: str, failures: Iterable[Dict[str, Any]]) -> None:
    """``failed.jsonl``: the videos this run could not read (removed when there are none)."""
    path = os.path.join(out_dir, FAILED)
    text = "".join(dumps(r) + "\n" for r in failures)
    if text:
        write_text(path, text)
    elif os.path.exists(path):
        os.remove(path)


def remove_unfinished(out_dir: str) -> int:
    """Rank 0 before a run: delete the ``*.tmp`` arrays an interrupted run left; returns how many."""
    stale = glob.glob(os.path.join(glob.escape(out_dir), f"*.npy{TMP}"))
    for path in stale:
        os.remove(path)
    return len(stale)


def read_failures(out_dir: str) -> List[Dict[str, Any]]:
    """The videos the last run could not read (``failed.jsonl``; none when it is absent)."""
    return _read_lines(os.path.join(out_dir, FAILED))


def mark_done(out_dir: str, rank: int) -> None:
    """Process ``rank`` has finished its share (``wait_done``)."""
    write_text(os.path.join(out_dir, PARTS, f"rank{rank}{DONE}"), "")


def wait_done(out_dir: str, world: int, poll_s: float = 1.0, report_s: float = 600.0) -> None:
    """Wait, however long, until all ``world`` processes have finished their shares: through files,
    since a collective would time out (after 30 min) while a rank with longer videos works on.
    A process that fails ends the job (the launcher stops the others), so this does not wait forever."""
    start = last = time.monotonic()
    while True:
        left = [r for r in range(world) if not os.path.exists(os.path.join(out_dir, PARTS, f"rank{r}{DONE}"))]
        if not left:
            return
        if time.monotonic() - last > report_s:
            last = time.monotonic()
            logger.info("waiting %.0f min for process(es) %s to finish their videos", (last - start) / 60, left)
        time.sleep(poll_s)
