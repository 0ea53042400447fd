"""Every training command the docs show (``python tools/run_net.py``, ``torchrun ... tools/run_net.py``,
``python tools/submit.py`` in README.md, REPRODUCE.md and MODEL_ZOO.md) runs as written with
``--dry-run`` added: real processes, the placeholder paths pointing at a temporary folder that holds
miniature annotations, exit status 0, the recipe's effective batch of 64 whatever the process count,
and nothing written.

A torchrun command is run as the first process torchrun would start (its RANK, WORLD_SIZE, LOCAL_*
and MASTER_* variables set from --nnodes / --nproc_per_node / --rdzv_endpoint): a dry run joins no
rendezvous, so no second machine is needed. A real torchrun on this machine is tested at the end.
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.conftest import QUICKSTART, ROOT
from timesformer.utils.distributed import find_free_port

DOCS = ("README.md", "REPRODUCE.md", "MODEL_ZOO.md")
TOOLS = ("tools/run_net.py", "tools/submit.py")
PLACEHOLDER = re.compile(r"^(/path/to/|/data/|<)")
# The checkpoint the docs tell users to download next to where they run (the dry run reads no weights).
RELEASED = "TimeSformer_divST_8x32_224_K400.pyth"


def doc_commands(text: str) -> List[List[str]]:
    """The run_net / submit commands of the fenced blocks of ``text``, as argument lists (line
    continuations joined, ``&&`` chains split, comments dropped)."""
    found = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("#") or not any(tool in line for tool in TOOLS):
                continue
            words = shlex.split(line)
            chains = [[]]
            for w in words:
                chains.append([]) if w in ("&&", ";") else chains[-1].append(w)
            found += [c for c in chains if any(w in TOOLS for w in c)]
    return found


def all_commands() -> List[Tuple[str, List[str]]]:
    return [(doc, cmd) for doc in DOCS for cmd in doc_commands((ROOT / doc).read_text())]


def option(words: List[str], name: str, default: str) -> str:
    return words[words.index(name) + 1] if name in words else default


def as_run(words: List[str], paths: Dict[str, str]) -> Tuple[List[str], Dict[str, str]]:
    """The command line to start and its extra environment: placeholders replaced, --dry-run added,
    ``python`` this interpreter, torchrun as its first worker."""
    args = []
    for i, w in enumerate(words):
        if PLACEHOLDER.match(w):
            key = words[i - 1]
            w = paths.get(key) or paths["file"]
        args.append(w)
    env = {}
    if args[0] == "torchrun":
        script = next(i for i, w in enumerate(args) if w in TOOLS)
        launcher, args = args[:script], ["python", *args[script:]]
        nodes, per_node = int(option(launcher, "--nnodes", "1")), int(option(launcher, "--nproc_per_node", "1"))
        host, _, port = option(launcher, "--rdzv_endpoint", "localhost:29500").partition(":")
        env = {"RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0", "WORLD_SIZE": str(nodes * per_node),
               "LOCAL_WORLD_SIZE": str(per_node), "MASTER_ADDR": host, "MASTER_PORT": port or "29500"}
    assert args[0] == "python", f"not a python command: {words}"
    return [sys.executable, *args[1:], "--dry-run"], env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Tuple[Path, Dict[str, str]]:
    """A folder to run the commands from (tools/ and configs/ linked in), the placeholder paths."""
    tmp = tmp_path_factory.mktemp("docs")
    work = tmp / "work"
    work.mkdir()
    for name in ("tools", "configs"):
        (work / name).symlink_to(ROOT / name)
    (work / RELEASED).write_bytes(b"")  # downloaded, as the docs say
    annotations = tmp / "annotations"
    annotations.mkdir()
    for split, count in (("train", 2400), ("val", 100), ("test", 100)):
        (annotations / f"{split}.csv").write_text("".join(f"v{k:05d}.mp4 {k % 400}\n" for k in range(count)))
    (tmp / "videos").mkdir()
    (tmp / RELEASED).write_bytes(b"")
    paths = {"DATA.PATH_TO_DATA_DIR": str(annotations), "DATA.PATH_PREFIX": str(tmp / "videos"),
             "file": str(tmp / RELEASED)}
    return work, paths


def test_the_docs_show_the_commands_this_test_runs():
    shown = [" ".join(c) for _, c in all_commands()]
    assert any(c.startswith("torchrun --nnodes 2") for c in shown)
    assert any(c.startswith("python tools/submit.py") and "NUM_SHARDS 4" in c for c in shown)
    assert sum(c.startswith("python tools/run_net.py") for c in shown) >= 5


@pytest.mark.slow
def test_every_documented_command_plans_without_a_problem(workdir):
    work, paths = workdir
    before = sorted(os.listdir(work))
    runs = []
    for doc, words in all_commands():
        cmd, env = as_run(words, paths)
        clean = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
        runs.append((doc, words, subprocess.Popen(cmd, cwd=work, env={**clean, **env}, text=True,
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        if len(runs) % 3 == 0:  # three at a time
            runs[-3][2].wait(timeout=300)
    for doc, words, proc in runs:
        out, err = proc.communicate(timeout=300)
        shown = f"{doc}: {' '.join(words)}\n{out}{err}"
        assert proc.returncode == 0, shown
        assert "run plan" in out, shown
        gpus, shards = int(option(words, "NUM_GPUS", "8")), int(option(words, "NUM_SHARDS", "1"))
        if "configs/Kinetics/" in " ".join(words):
            processes = max(1, gpus) * shards
            assert f" {processes} process" in out, shown
            if "TRAIN.ENABLE" not in words:  # the recipe's batch on any cluster
                assert "64 clips per optimizer step" in out and "2400 videos" in out, shown
        if "tools/submit.py" in words:
            assert f"#SBATCH --nodes={shards}" in out, shown
    assert sorted(os.listdir(work)) == before  # a dry run writes nothing (no ./output, no runs/)


@pytest.mark.slow
def test_dry_run_under_a_real_torchrun_plans_once(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_port",
           str(find_free_port()), str(ROOT / "tools" / "run_net.py"), "--cfg", QUICKSTART, "NUM_GPUS", "2",
           "OUTPUT_DIR", str(tmp_path / "out"), "--dry-run"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("run plan") == 1 and "2 processes" in proc.stdout
    assert "torchrun started them (WORLD_SIZE 2)" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == []
