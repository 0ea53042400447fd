"""HowTo100M test views ("cover"): the length each video's views are planned on, fixed at start-up.

The evaluator needs every (video, view) item before the loader starts (each item on exactly one
rank, one clip in memory at a time), so the number of clips covering each video is decided when the
test dataset is built: from the container's header, read for every video (a few ms each, in
DATA_LOADER.NUM_WORKERS processes); and for a video whose annotated duration differs from its
header by more than one clip, from decoding it to the end, with one warning naming it. A video that
then decodes fewer frames than planned (a download cut short behind an intact header) has its views
past the real end left unscored while it is read (``ViewPastEnd``), the same on every worker.
"""
import functools
import logging
from typing import Dict, List, Tuple

from fvcore.common.config import CfgNode

from .. import decoding
from ..protocol import EvalProtocol

logger = logging.getLogger(__name__)


class ViewPastEnd(Exception):
    """A cover view planned on the header starts past what the video really decodes: not scored."""


def plan_lengths(records: List, cfg: CfgNode, protocol: EvalProtocol, source: str) -> Dict[int, Tuple[int, float]]:
    """{video: (frames, fps)} to plan ``protocol``'s cover views on; unreadable videos are left out.

    ``records`` are VideoRecords (``duration`` in seconds, or None); ``source`` names the
    annotation file in the warnings.
    """
    d, workers = cfg.DATA, cfg.DATA_LOADER.NUM_WORKERS
    scan = functools.partial(decoding.scan_video, backend=d.DECODING_BACKEND, frames_fps=d.FRAMES_FPS)
    paths = [r.path for r in records]
    lengths = {i: (h.info.num_frames, h.info.fps)
               for i, h in enumerate(decoding.map_videos(functools.partial(scan, count=False), paths, workers))
               if not h.error}
    off = [i for i, (frames, fps) in lengths.items()
           if records[i].duration is not None and records[i].start_frame == 0 and records[i].end_frame is None
           and abs(records[i].duration * fps - frames) > protocol.clip_length(fps)]
    for i, counted in zip(off, decoding.map_videos(scan, [paths[i] for i in off], workers), strict=True):
        if counted.error:
            del lengths[i]  # reading it fails later, with the reason
            continue
        fps = lengths[i][1]
        lengths[i] = (counted.frames, fps)
        logger.warning("%s: %s says %g s, but %d frames (%.4g s at %g fps) decode; its %d test views "
                       "cover what decodes. Fix or remove its duration there.", paths[i], source,
                       records[i].duration, counted.frames, counted.frames / fps, fps,
                       protocol.num_clips(counted.frames, fps))
    return lengths
