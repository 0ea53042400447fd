"""tools/submit.py: the SLURM job it would submit (dry run), and the same job run by submitit's debug executor."""
import os

from tests.conftest import QUICKSTART, final_state, load_tool, tiny_opts


def test_dry_run_prints_one_task_per_gpu_on_every_node_and_the_plan(tmp_path, capsys):
    out = os.path.join(tmp_path, "out")
    argv = ["--cfg", QUICKSTART, "--dry-run", "--partition", "learnfair", "--timeout-min", "600",
            "NUM_GPUS", "8", "NUM_SHARDS", "2", "OUTPUT_DIR", out]
    assert load_tool("submit").main(argv) == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8",
                 "#SBATCH --partition=learnfair", "#SBATCH --time=600", "submitit.core._submit",
                 # the quick start's batch of 16 over 16 processes, one clip each
                 "16 processes", "16 clips per optimizer step (TRAIN.BATCH_SIZE) = 16 processes x 1 clip", out):
        assert line in script, line
    assert not os.path.exists(out)  # nothing ran, nothing was written


def test_dry_run_lists_every_problem(tmp_path, capsys):
    argv = ["--cfg", QUICKSTART, "--dry-run", "NUM_GPUS", "8", "NUM_SHARDS", "3", "LOG_PERIOD", "0",
            "OUTPUT_DIR", str(tmp_path / "out")]
    assert load_tool("submit").main(argv) == 2
    err = capsys.readouterr().err
    assert "the config has 2 problems" in err and "TRAIN.BATCH_SIZE = 16" in err and "LOG_PERIOD = 0" in err
    assert "expected at least 24: each of the 24 processes" in err  # 16 clips: at most 16 processes


def test_debug_executor_runs_the_job(tmp_path):
    from timesformer.data.datasets.synthetic import generate

    data = str(tmp_path / "data")
    generate(data, 4)
    out = str(tmp_path / "out")
    argv = ["--cfg", QUICKSTART, "--cluster", "debug",
            *tiny_opts(data, out, **{"DATA.SYNTHETIC_NUM_VIDEOS": 4, "TEST.ENABLE": False,
                                     "TRAIN.EVAL_PERIOD": 0})]
    assert load_tool("submit").main(argv) == 0
    assert final_state(out)["epoch"] == 1
    job = load_tool("submit").Job(QUICKSTART, [])
    assert job.checkpoint().function.cfg_file == QUICKSTART  # preemption requeues the same job
