"""Every training command the docs show (run_net, torchrun and submit, in any form: ``python
tools/run_net.py``, ``timesformer run_net``, ``python -m timesformer run_net``, ``torchrun ...
tools/run_net.py`` or ``torchrun ... -m timesformer run_net``; in README.md, REPRODUCE.md and
MODEL_ZOO.md and DATASET.md) runs as written with ``--dry-run`` added: real processes, the placeholder paths
pointing at a temporary folder that holds miniature annotations, exit status 0, the recipe's
effective batch of 64 whatever the process count, and nothing written.

``timesformer TOOL`` runs as ``python -m timesformer TOOL`` (the same ``timesformer.cli.main``; the
installed console script itself is tested by tests/test_packaging.py). A torchrun command is run as
the first process torchrun would start (its RANK, WORLD_SIZE, LOCAL_* and MASTER_* variables set
from --nnodes / --nproc_per_node / --rdzv_endpoint): a dry run joins no rendezvous, so no second
machine is needed. A real torchrun on this machine is tested at the end.
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.conftest import QUICKSTART, ROOT
from timesformer.utils.distributed import find_free_port

DOCS = ("README.md", "REPRODUCE.md", "MODEL_ZOO.md", "DATASET.md")
NAMES = ("run_net", "submit")
SCRIPTS = tuple(f"tools/{name}.py" for name in NAMES)
PLACEHOLDER = re.compile(r"^(/path/to/|/data/|<)")
# The checkpoint the docs tell users to download where they run, or into checkpoints/ there for the configs
# that fine-tune it (REPRODUCE.md); the dry run reads no weights.
RELEASED = "TimeSformer_divST_8x32_224_K400.pyth"


def find_tool(words: List[str]) -> Optional[Tuple[int, int]]:
    """Where the tool is named in ``words`` and where its arguments start, or None when the words do
    not run run_net or submit: ``tools/NAME.py`` or ``timesformer NAME`` (after python -m, torchrun -m,
    torchrun --no-python, or alone)."""
    for i, w in enumerate(words):
        if w in SCRIPTS:
            return i, i + 1
        if w == "timesformer" and i + 1 < len(words) and words[i + 1] in NAMES:
            return i + 1, i + 2
    return None


def doc_commands(text: str) -> List[List[str]]:
    """The run_net / submit commands of the fenced blocks of ``text``, as argument lists (line
    continuations joined, ``&&`` chains split, comments dropped)."""
    found = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("#") or not any(name in line for name in NAMES):
                continue
            chains = [[]]
            for w in shlex.split(line):
                chains.append([]) if w in ("&&", ";") else chains[-1].append(w)
            found += [c for c in chains if find_tool(c)]
    return found


def all_commands() -> List[Tuple[str, List[str]]]:
    return [(doc, cmd) for doc in DOCS for cmd in doc_commands((ROOT / doc).read_text())]


def tool_name(words: List[str]) -> str:
    """'run_net' or 'submit': the tool ``words`` run."""
    name = words[find_tool(words)[0]]
    return name[len("tools/"):-len(".py")] if name in SCRIPTS else name


def option(words: List[str], name: str, default: str) -> str:
    return words[words.index(name) + 1] if name in words else default


def as_run(words: List[str], paths: Dict[str, str]) -> Tuple[List[str], Dict[str, str]]:
    """The command line to start and its extra environment: placeholders replaced, --dry-run added,
    ``python`` this interpreter, ``timesformer`` ``python -m timesformer``, torchrun as its first worker,
    leading ``NAME=value`` words in the environment."""
    args = []
    for i, w in enumerate(words):
        if PLACEHOLDER.match(w):
            w = paths.get(words[i - 1]) or paths["file"]
        args.append(w)
    env = {}
    while re.match(r"^[A-Z_][A-Z0-9_]*=", args[0]):  # WANDB_MODE=offline timesformer run_net ...
        key, _, value = args.pop(0).partition("=")
        env[key] = value
    name, rest = find_tool(args)
    tool = [args[name]] if args[name] in SCRIPTS else ["-m", "timesformer", args[name]]
    if args[0] == "torchrun":
        nodes, per_node = int(option(args, "--nnodes", "1")), int(option(args, "--nproc_per_node", "1"))
        host, _, port = option(args, "--rdzv_endpoint", "localhost:29500").partition(":")
        env.update(RANK="0", LOCAL_RANK="0", GROUP_RANK="0", WORLD_SIZE=str(nodes * per_node),
                   LOCAL_WORLD_SIZE=str(per_node), MASTER_ADDR=host, MASTER_PORT=port or "29500")
    else:
        launcher = args[:name]
        assert launcher in (["python"], ["python", "-m", "timesformer"], ["timesformer"]), \
            f"not a command this test knows how to run: {words}"
    return [sys.executable, *tool, *args[rest:], "--dry-run"], env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Tuple[Path, Dict[str, str]]:
    """A folder to run the commands from (tools/ and configs/ linked in), the placeholder paths."""
    tmp = tmp_path_factory.mktemp("docs")
    work = tmp / "work"
    work.mkdir()
    for name in ("tools", "configs"):
        (work / name).symlink_to(ROOT / name)
    (work / "checkpoints").mkdir()
    for path in (work / RELEASED, work / "checkpoints" / RELEASED):
        path.write_bytes(b"")  # downloaded, as the docs say
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
    assert any(tool_name(c.split()) == "submit" and "NUM_SHARDS 4" in c for c in shown)
    assert sum(tool_name(c.split()) == "run_net" for c in shown) >= 5


@pytest.mark.parametrize("line,expected,world", [
    ("python tools/run_net.py --cfg X NUM_GPUS 8", ["tools/run_net.py", "--cfg", "X", "NUM_GPUS", "8"], None),
    ("timesformer run_net --cfg X", ["-m", "timesformer", "run_net", "--cfg", "X"], None),
    ("pip install timesformer && python -m timesformer submit --cfg X", ["-m", "timesformer", "submit", "--cfg", "X"],
     None),
    ("torchrun --nnodes 2 --nproc_per_node 8 -m timesformer run_net --cfg X",
     ["-m", "timesformer", "run_net", "--cfg", "X"], "16"),
    ("torchrun --nproc_per_node 4 --no-python timesformer run_net --cfg X",
     ["-m", "timesformer", "run_net", "--cfg", "X"], "4"),
    ("torchrun --nnodes 2 tools/run_net.py --cfg X", ["tools/run_net.py", "--cfg", "X"], "2"),
    ("WANDB_MODE=offline timesformer run_net --cfg X", ["-m", "timesformer", "run_net", "--cfg", "X"], None),
])
def test_every_form_of_a_command_is_found_and_run_by_this_interpreter(line, expected, world):
    (words,) = doc_commands(f"```bash\n{line}\n```\n")
    cmd, env = as_run(words, {"file": "F"})
    assert cmd == [sys.executable, *expected, "--dry-run"] and env.get("WORLD_SIZE") == world


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
        if option(words, "--tool", "run_net") != "run_net":  # submit --tool extract_features: no run to plan
            continue
        assert "run plan" in out, shown
        gpus, shards = int(option(words, "NUM_GPUS", "8")), int(option(words, "NUM_SHARDS", "1"))
        if "configs/Kinetics/" in " ".join(words):
            processes = max(1, gpus) * shards
            assert f" {processes} process" in out, shown
            if "TRAIN.ENABLE" not in words:  # the recipe's batch on any cluster
                assert "64 clips per optimizer step" in out and "2400 videos" in out, shown
        if tool_name(words) == "submit":
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
