"""Faults a user can cause from the command line end as one ``error:`` line that names the file, key
or value and what to do, never a traceback: exit status 2 for a config found wrong before anything
starts, 1 for a fault found while running. And the messages around resuming say what happened."""
import os
import subprocess
import sys

import pytest

from test_engine_trainer import QUICKSTART, ROOT
from test_tools_run_net import _tool


def error_line(err: str) -> str:
    """The last line of stderr, checked to be the one ``error:`` line of a run without a traceback."""
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: "), err[-3000:]
    return last


# ---------------------------------------------------------------- config files (exit status 2)
CONFIG_FILES = {
    "missing_base": ({"exp.yaml": "_BASE_: ../nowhere/base.yaml\n"}, ["exp.yaml", "_BASE_", "nowhere/base.yaml"]),
    "yaml_syntax": ({"exp.yaml": "MODEL:\n  NUM_CLASSES: [1\n"}, ["exp.yaml", "line 3", "not valid YAML"]),
    "circular_base": ({"exp.yaml": "_BASE_: b.yaml\n", "b.yaml": "_BASE_: exp.yaml\n"},
                      ["circular _BASE_", "exp.yaml -> ", "b.yaml -> ", "exp.yaml"]),
    "empty": ({"exp.yaml": "# nothing yet\n"}, ["exp.yaml", "is empty"]),
    "list": ({"exp.yaml": "- MODEL\n- DATA\n"}, ["exp.yaml", "a list", "mapping"]),
    "scalar_for_a_section": ({"exp.yaml": "MODEL: 3\n"}, ["exp.yaml", "MODEL", "section"]),
    "unsafe_tag": ({"exp.yaml": "MODEL: !!python/object/apply:os.system ['echo pwned']\n"},
                   ["exp.yaml", "line 1", "python/object/apply:os.system"]),
    "bad_key_in_base": ({"exp.yaml": "_BASE_: base.yaml\n", "base.yaml": "MODEL:\n  NUM_CLASES: 3\n"},
                        ["base.yaml", "MODEL.NUM_CLASES", "MODEL.NUM_CLASSES"]),
    "base_not_a_path": ({"exp.yaml": "_BASE_: {a: 1}\n"}, ["exp.yaml", "_BASE_", "path"]),
}


@pytest.mark.parametrize("name", list(CONFIG_FILES))
def test_a_broken_config_file_is_one_error_line(name, tmp_path, capsys):
    files, expected = CONFIG_FILES[name]
    for fname, text in files.items():
        (tmp_path / fname).write_text(text)
    assert _tool("run_net").main(["--cfg", str(tmp_path / "exp.yaml")]) == 2
    line = error_line(capsys.readouterr().err)
    for part in expected:
        assert part in line, line
    assert "pwned" not in capsys.readouterr().out


def test_circular_base_in_a_real_process(tmp_path):
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_BASE_: ./a.yaml\n")
    proc = subprocess.run([sys.executable, "tools/run_net.py", "--cfg", str(tmp_path / "a.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = error_line(proc.stderr)
    assert f"circular _BASE_: {tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} -> {tmp_path / 'a.yaml'}" in line
    assert len(proc.stderr.splitlines()) == 1


def test_sgd_nesterov_without_momentum_is_a_config_error(capsys):
    assert _tool("run_net").main(["--cfg", QUICKSTART, "SOLVER.OPTIMIZING_METHOD", "sgd",
                                  "SOLVER.MOMENTUM", "0.0"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "SOLVER.NESTEROV" in line and "SOLVER.MOMENTUM = 0.0" in line
