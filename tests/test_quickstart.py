"""The README's quick start, as it is: configs/Synthetic/quickstart.yaml trains a small divided
space-time model from scratch on the generated videos and reaches high test accuracy on a task
that space-only attention cannot solve (the two classes are each other's frames reversed).

The slowest test of the suite (about 3 minutes on 2 cores): it is the one that shows the library
learns, end to end, through real mp4 files, the loader, the trainer and the multi-view test.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import QUICKSTART, ROOT


@pytest.mark.slow
def test_quickstart_learns_a_task_that_needs_time(tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "tools/run_net.py", "--cfg", QUICKSTART, "OUTPUT_DIR", str(out),
         "DATA.PATH_TO_DATA_DIR", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "test_results.json").read_text())
    assert results["top1"] >= 90.0, results
    # Space-only attention sees a set of frames: both classes give it the same sets.
    from timesformer.data.datasets.synthetic import render

    clip = render(0, np.random.default_rng(0))
    assert np.array_equal(render(1, np.random.default_rng(0)), clip[::-1])
    assert os.path.isfile(out / "stats.jsonl") and (data / "train.csv").read_text().count("\n") == 1024
