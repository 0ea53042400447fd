"""One convention for every tool: ``--help`` with the docstring's examples and help on every option,
trailing KEY VALUE overrides (``--opts`` too) checked as run_net checks them, one ``error:`` line and
exit status 2 for what the user must fix, the ``timesformer`` command, --cfg found in the package."""
import importlib
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from tests.conftest import QUICKSTART, ROOT, load_tool
from timesformer.cli import TOOLS, common
from timesformer.cli import main as timesformer_main
from timesformer.config import ConfigError, find_config, load_config

# The tools that take config overrides, with the other arguments each needs to get as far as reading them.
OVERRIDES = {"run_net": ["--cfg", QUICKSTART], "predict": ["v.mp4", "--weights", "w.pyth"],
             "extract_features": ["--cfg", QUICKSTART, "--weights", "w.pyth", "--out", "feats"],
             "visualize_attention": ["v.mp4", "--weights", "w.pyth"], "export": ["--weights", "w.pyth"],
             "check_videos": [], "model_info": [], "submit": ["--cfg", QUICKSTART], "ablate_attention": [],
             "benchmark": [], "benchmark_data": []}


def run_tool(name: str, *argv: str, cwd=ROOT, **kw) -> subprocess.CompletedProcess:
    """tools/<name>.py as a user runs it: a real process."""
    return subprocess.run([sys.executable, str(ROOT / "tools" / f"{name}.py"), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=300, **kw)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_every_tool_is_a_module_a_shim_and_a_subcommand():
    modules = {f[:-3] for f in os.listdir(ROOT / "timesformer" / "cli") if f.endswith(".py")} - {"__init__", "common"}
    shims = {f[:-3] for f in os.listdir(ROOT / "tools") if f.endswith(".py")}
    assert set(TOOLS) == modules == shims
    for name in shims:  # a shim only calls main: no code of its own, no sys.path changes
        text = (ROOT / "tools" / f"{name}.py").read_text()
        assert f"from timesformer.cli.{name} import main" in text and "sys.path" not in text, name
    assert set(OVERRIDES) <= set(TOOLS)


@pytest.mark.parametrize("name", TOOLS)
def test_help_shows_the_examples_and_every_option_has_help(name):
    proc = run_tool(name, "--help")
    assert proc.returncode == 0, proc.stderr
    doc = importlib.import_module(f"timesformer.cli.{name}").__doc__
    examples = [line.strip() for line in doc.splitlines() if line.strip().startswith("python tools/")]
    assert examples, f"{name}: the docstring shows no example command"
    for example in examples:
        assert example in proc.stdout, example
    assert f"timesformer {name}" in proc.stdout
    for action in load_tool(name).build_parser()._actions:
        assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest}: no help text"


def test_parsers_are_built_without_torch():
    # --help must answer before torch (seconds) is imported: every parser builds without it
    code = ("import sys\nfrom timesformer.cli import TOOLS\nimport importlib\n"
            "for n in TOOLS:\n    importlib.import_module('timesformer.cli.' + n).build_parser().format_help()\n"
            "heavy = [m for m in ('torch', 'torchvision', 'timm', 'fvcore.nn') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_a_bad_key_is_one_error_line_and_status_2(name):
    proc = run_tool(name, *OVERRIDES[name], "TEST.NUM_SPATIAL_CROP", "1")
    line = one_error_line(proc)
    assert proc.returncode == 2
    assert "unknown config key TEST.NUM_SPATIAL_CROP" in line and "TEST.NUM_SPATIAL_CROPS" in line


@pytest.mark.parametrize("name", ["predict", "export", "visualize_attention"])
def test_overrides_after_opts_are_the_same_overrides(name):
    proc = run_tool(name, *OVERRIDES[name], "--opts", "TEST.NUM_SPATIAL_CROP", "1")
    assert proc.returncode == 2 and "unknown config key TEST.NUM_SPATIAL_CROP" in one_error_line(proc)


def test_overrides_may_follow_positional_arguments_and_options_may_follow_them():
    parser = load_tool("predict").build_parser()
    args = common.parse(parser, ["a.mp4", "--weights", "W", "b.mp4", "TEST.NUM_SPATIAL_CROPS", "1", "--json",
                                 "--opts", "DATA.NUM_FRAMES", "4"])
    assert args.videos == ["a.mp4", "b.mp4"] and args.json and args.weights == "W"
    assert args.opts == ["TEST.NUM_SPATIAL_CROPS", "1", "DATA.NUM_FRAMES", "4"]
    # an option's value is never taken for a key, a value never for an option
    args = common.parse(load_tool("run_net").build_parser(), ["--cfg", QUICKSTART, "OUTPUT_DIR", "--dry-run"])
    assert args.opts == ["OUTPUT_DIR", "--dry-run"] and not args.dry_run


def test_a_missing_required_argument_is_one_line():
    proc = run_tool("predict")
    assert proc.returncode == 2 and "the following arguments are required: --weights" in one_error_line(proc)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("name", ["predict", "visualize_attention", "benchmark"])
def test_device_cuda_without_a_gpu_is_a_usage_error(name):
    argv = OVERRIDES[name] if name != "benchmark" else ["--mode", "infer"]
    proc = run_tool(name, *argv, "--device", "cuda")
    line = one_error_line(proc)
    assert proc.returncode == 2 and "--device cuda" in line and "--device cpu" in line


def test_submit_without_slurm_is_a_usage_error(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with python but without srun / sbatch
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    env = dict(os.environ, PATH=str(bin_dir))
    proc = run_tool("submit", "--cfg", QUICKSTART, "OUTPUT_DIR", str(tmp_path / "out"), env=env)
    line = one_error_line(proc)
    assert proc.returncode == 2 and "srun and sbatch not found" in line and "--cluster local" in line
    assert shutil.which("srun", path=str(bin_dir)) is None


def test_cfg_is_found_in_the_package_from_any_folder(tmp_path):
    packaged = find_config("Kinetics/TimeSformer_divST_8x32_224.yaml")
    named = find_config("configs/Kinetics/TimeSformer_divST_8x32_224.yaml")  # here: the link to the same file
    assert os.path.realpath(packaged) == os.path.realpath(named)
    assert os.path.dirname(os.path.dirname(packaged)) == str(ROOT / "timesformer" / "configs")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert load_config("configs/Kinetics/TimeSformer_divST_8x32_224.yaml").DATA.NUM_FRAMES == 8  # _BASE_ too
        closest = re.escape("closest packaged configs: Kinetics/TimeSformer_divST_8x32_224")
        with pytest.raises(ConfigError, match=closest):
            find_config("configs/Kinetics/TimeSformer_divST_8x32_244.yaml")
        local = tmp_path / "configs" / "Kinetics" / "TimeSformer_divST_8x32_224.yaml"
        local.parent.mkdir(parents=True)
        local.write_text("MODEL:\n  NUM_CLASSES: 7\n")  # a local file of the same name comes first
        assert load_config("configs/Kinetics/TimeSformer_divST_8x32_224.yaml").MODEL.NUM_CLASSES == 7
    finally:
        os.chdir(cwd)
    proc = run_tool("run_net", "--cfg", "Kinetics/NoSuch.yaml", cwd=tmp_path)
    line = one_error_line(proc)
    assert proc.returncode == 2 and str(tmp_path / "Kinetics" / "NoSuch.yaml") in line
    assert str(ROOT / "timesformer" / "configs" / "Kinetics" / "NoSuch.yaml") in line


def test_the_top_level_configs_folder_is_the_packaged_one():
    assert os.path.realpath(ROOT / "configs") == str(ROOT / "timesformer" / "configs")


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path):
    out = tmp_path / "out"
    proc = run_tool("run_net", "--cfg", "configs/Synthetic/quickstart.yaml", "--dry-run", "OUTPUT_DIR", str(out),
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plan = proc.stdout  # engine/plan.py's plan (tests/test_engine_plan.py checks its numbers)
    assert plan.startswith("run plan") and "(synthetic train)" in plan and "on the CPU (gloo)" in plan
    assert "random weights" in plan and f"output       {out} (to be created" in plan
    assert not (out / "checkpoints").exists() and not (out / "log.txt").exists()
    proc = run_tool("run_net", "--cfg", QUICKSTART, "--dry-run", "SOLVER.OPTIMIZING_METHOD", "adam",
                    "OUTPUT_DIR", str(out))
    assert proc.returncode == 2 and "SOLVER.OPTIMIZING_METHOD" in one_error_line(proc)


def test_the_timesformer_command_lists_and_runs_the_tools(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["timesformer"])
    assert timesformer_main(["--help"]) == 0
    listing = capsys.readouterr().out
    for name in TOOLS:
        assert re.search(rf"^  {name} +\S", listing, re.M), name
    assert timesformer_main(["predictt"]) == 2
    assert "did you mean predict?" in capsys.readouterr().err
    assert timesformer_main(["model_info", "--help"]) == 0
    assert "usage: timesformer model_info" in capsys.readouterr().out
    assert timesformer_main(["model_info", "--all-schemes", "MODEL.NO_SUCH_KEY", "1"]) == 2
    assert "unknown config key MODEL.NO_SUCH_KEY" in capsys.readouterr().err


def test_the_names_a_parser_offers_are_the_librarys():
    # named in the tools so that --help needs no torch; the same tuples as the code that reads them
    from timesformer.checkpoint import FORMATS
    from timesformer.visualize import HEAD_FUSIONS

    assert load_tool("convert_checkpoint").FORMATS == FORMATS
    assert load_tool("visualize_attention").HEAD_FUSIONS == HEAD_FUSIONS


def test_the_start_up_benchmark_prints_ratios_to_import_torch(capsys):
    assert load_tool("benchmark_startup").main(["--runs", "1", "--tools", "convert_checkpoint"]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert [r[1].strip() for r in rows] == ["`import torch`", "`load_config`", "`convert_checkpoint --help`"]
    assert float(rows[0][3]) == 1.0 and all(float(r[2]) > 0 for r in rows)


def test_a_message_of_several_lines_reads_as_one_sentence_list():
    from timesformer.errors import error_line

    message = "the config has 2 problems:\n1. TRAIN.BATCH_SIZE = 7: not a multiple of 2.\n2. SOLVER.BASE_LR = -1."
    assert error_line(message) == ("error: the config has 2 problems: 1. TRAIN.BATCH_SIZE = 7: not a multiple of 2; "
                                   "2. SOLVER.BASE_LR = -1.")


def test_the_timesformer_command_leaves_the_process_as_it_found_it(capsys):
    from timesformer.cli import main

    before = sys.argv[0]
    assert main(["predict", "--bogus"]) == 2
    assert "timesformer predict" in capsys.readouterr().err  # the usage names the command as typed
    assert sys.argv[0] == before  # a later tool in the same process keeps its own name
