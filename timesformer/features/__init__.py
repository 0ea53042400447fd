"""Feature extraction at scale: per-clip features of every video of a split, one ``.npy`` per video
and a ``manifest.jsonl``, sharded over processes like an evaluation, resumable (tools/extract_features.py).

``extract.py`` runs the job (which process takes which video, the model), ``stream.py`` decides and
decodes the clips, ``store.py`` names and writes the files and the manifest.
"""
from .extract import ExtractJob, assign, clip_features, extract_features, list_split
from .store import FAILED, MANIFEST, output_name
from .stream import CLIPS

__all__ = ["CLIPS", "FAILED", "MANIFEST", "ExtractJob", "assign", "clip_features", "extract_features", "list_split",
           "output_name"]
