"""Batch semantics for any process count, every config problem at once, the run plan behind
``--dry-run``, and no OUTPUT_DIR left behind by a run that stops in preflight."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import QUICKSTART, ROOT, load_tool, tiny_opts
from timesformer.config import ConfigError, load_config
from timesformer.engine import check_config, preflight

KINETICS = str(ROOT / "configs" / "Kinetics" / "TimeSformer_divST_8x32_224.yaml")
HR = str(ROOT / "configs" / "Kinetics" / "TimeSformer_divST_16x16_448.yaml")
TORCHRUN_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def _not_under_torchrun(monkeypatch):
    for key in TORCHRUN_KEYS:
        monkeypatch.delenv(key, raising=False)


def kinetics_dir(root: Path, videos: int = 1000) -> str:
    """A Kinetics annotation folder of ``videos`` training lines (the files they name are not needed)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", videos), ("val", 50), ("test", 50)):
        (root / f"{split}.csv").write_text("".join(f"v{k:05d}.mp4 {k % 400}\n" for k in range(count)))
    return str(root)


@pytest.mark.parametrize("gpus,shards", [(0, 1), (1, 1), (8, 1), (8, 2), (8, 4), (2, 16), (4, 1), (6, 1), (8, 3),
                                         (3, 1), (7, 9)])
def test_the_recipe_keeps_its_effective_batch_on_any_process_count(gpus, shards):
    from timesformer.data.batching import train_batch

    cfg = check_config(load_config(KINETICS, ["NUM_GPUS", str(gpus), "NUM_SHARDS", str(shards)]))
    processes = max(1, gpus) * shards
    batch = train_batch(cfg, processes)
    assert batch.effective == 64 == sum(sum(batch.micro_batches(r)) for r in range(processes))
    assert batch.effective == sum(batch.iteration_clips(a) for a in range(batch.accumulation))
    assert batch.processes == processes and 1 <= batch.per_process <= cfg.TRAIN.MAX_BATCH_PER_PROCESS
    assert batch.uniform == (64 % processes == 0)  # the recipe's cap 8: powers of two split evenly


@pytest.mark.parametrize("gpus,shards,least", [(8, 9, 72), (65, 1, 65)])
def test_more_processes_than_clips_per_step_are_refused_naming_the_keys(gpus, shards, least):
    with pytest.raises(ConfigError) as e:
        check_config(load_config(KINETICS, ["NUM_GPUS", str(gpus), "NUM_SHARDS", str(shards)]))
    message = str(e.value)
    assert f"TRAIN.BATCH_SIZE = 64 is invalid: expected at least {least}" in message
    assert "needs a clip per optimizer step" in message and "NUM_GPUS or NUM_SHARDS" in message


@pytest.mark.parametrize("effective,processes,cap,even,expected", [
    (64, 1, 8, False, [(8,) * 8]), (64, 8, 8, False, [(8,)] * 8), (64, 16, 8, False, [(4,)] * 16),
    (64, 8, 1, False, [(1,) * 8] * 8), (64, 8, 3, False, [(3, 3, 2)] * 8), (63, 1, 8, False, [(8,) * 7 + (7,)]),
    (16, 1, 0, False, [(16,)]), (12, 1, 4, False, [(4, 4, 4)]), (12, 2, 4, True, [(4, 2)] * 2),
    (8, 4, 0, True, [(2,)] * 4), (8, 3, 2, False, [(2, 1), (2, 1), (1, 1)]),
    (8, 3, 1, False, [(1, 1, 1)] * 2 + [(1, 1, 0)]), (52, 4, 8, False, [(7, 6)] * 4),
    (64, 6, 8, True, [(6, 6)] * 2 + [(6, 4)] * 4), (10, 3, 0, True, [(4,), (4,), (2,)]),
])
def test_the_split_of_the_effective_batch(effective, processes, cap, even, expected):
    from timesformer.data.batching import split_train_batch

    batch = split_train_batch(effective, processes, cap, even)
    assert [batch.micro_batches(r) for r in range(processes)] == expected
    assert batch.per_process == max(map(max, expected)) and batch.accumulation == len(expected[0])
    assert [batch.offset(r) for r in range(processes)] == [sum(map(sum, expected[:r])) for r in range(processes)]
    assert batch.uniform == (len({n for sizes in expected for n in sizes}) == 1)


def test_uneven_batches_give_each_clip_of_a_step_to_one_process_and_resume_after_whole_steps():
    import torch

    from timesformer.data.batching import StepBatches, split_train_batch
    from timesformer.data.build import TrainSampler

    batch = split_train_batch(8, 3, 2)  # shares 3, 3, 2: iterations of 2 + 1, 2 + 1, 1 + 1
    ranks = [TrainSampler(StepBatches(21, batch, r), seed=5) for r in range(3)]  # 2 steps, 5 clips left out
    for sampler in ranks:
        sampler.set_epoch(1)
    got = [list(sampler) for sampler in ranks]
    assert [[len(b) for b in g] for g in got] == [[2, 1, 2, 1], [2, 1, 2, 1], [1, 1, 1, 1]]
    order = torch.randperm(21, generator=torch.Generator().manual_seed(5 + 1)).tolist()  # RandomSampler's
    for step in range(2):
        mine = [sum(g[2 * step:2 * step + 2], []) for g in got]
        assert sum(mine, []) == order[8 * step:8 * step + 8]  # each process reads its slice of the step
    resumed = TrainSampler(StepBatches(21, batch, 1), seed=5, skip=2)  # a checkpoint after step 1
    resumed.set_epoch(1)
    assert list(resumed) == got[1][2:] and len(resumed) == 4
    idle = [list(TrainSampler(StepBatches(8, split_train_batch(8, 3, 1), r), seed=0)) for r in range(3)]
    assert idle[2] == [idle[2][0], idle[2][1], idle[2][1]]  # its third iteration: a clip of its slice again


def test_the_test_batch_is_split_over_any_process_count():
    cfg = check_config(load_config(KINETICS, ["NUM_GPUS", "8", "NUM_SHARDS", "2"]))  # TEST.BATCH_SIZE 8
    from timesformer.data.build import eval_batch

    assert cfg.TEST.BATCH_SIZE == 8 and eval_batch(cfg, 16) == 1 and eval_batch(cfg, 3) == 2


def test_every_problem_of_a_config_is_reported_at_once():
    opts = ["TRAIN.BATCH_SIZE", "0", "SOLVER.BASE_LR", "-1.0", "DATA.NUM_FRAMES", "0",
            "TEST.NUM_SPATIAL_CROPS", "2", "LOG_PERIOD", "0"]
    with pytest.raises(ConfigError) as e:
        check_config(load_config(None, opts))
    message = str(e.value)
    assert message.startswith("the config has 5 problems")
    for key in ("TRAIN.BATCH_SIZE = 0", "SOLVER.BASE_LR = -1.0", "DATA.NUM_FRAMES = 0",
                "TEST.NUM_SPATIAL_CROPS = 2", "LOG_PERIOD = 0"):
        assert f"config key {key} is invalid" in message, key


def test_every_problem_of_loading_a_config_is_reported_at_once(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("MODEL:\n  NUM_CLASES: 10\nDATA:\n  NUM_FRAMES: eight\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(config), ["TIMESFORMER.ATTENTION_TYPE", "divided", "SOLVER.BASE_LR", "fast",
                                  "TRAIN.BATCH", "8"])
    message = str(e.value)
    assert message.startswith("the config has 5 problems")
    for part in ("unknown config key MODEL.NUM_CLASES", "DATA.NUM_FRAMES = 'eight'", "unknown config key TRAIN.BATCH.",
                 "SOLVER.BASE_LR = 'fast'", "TIMESFORMER.ATTENTION_TYPE = 'divided'"):
        assert part in message, part


def test_preflight_reports_config_and_file_problems_together(tmp_path):
    cfg = load_config(KINETICS, ["NUM_GPUS", "8", "NUM_SHARDS", "9", "DATA.PATH_TO_DATA_DIR", str(tmp_path / "no"),
                                 "TRAIN.CHECKPOINT_FILE_PATH", str(tmp_path / "missing.pyth"),
                                 "OUTPUT_DIR", str(tmp_path / "out")])
    with pytest.raises(ConfigError) as e:
        preflight(cfg)
    message = str(e.value)
    assert message.startswith("the config has 3 problems")
    assert "TRAIN.BATCH_SIZE = 64" in message and "DATA.PATH_TO_DATA_DIR" in message
    assert "TRAIN.CHECKPOINT_FILE_PATH" in message
    assert not (tmp_path / "out").exists()  # nothing created for a run that does not start


def test_the_recipe_runs_on_six_gpus_with_uneven_shares(tmp_path, capsys):
    # 64 clips over 6 processes: 11, 11, 11, 11, 10, 10 clips per step, each in 2 iterations (cap 8)
    data = kinetics_dir(tmp_path / "k400")
    argv = ["--cfg", KINETICS, "--dry-run", "DATA.PATH_TO_DATA_DIR", data, "NUM_GPUS", "6",
            "OUTPUT_DIR", str(tmp_path / "out")]
    assert load_tool("run_net").main(argv) == 0
    text = capsys.readouterr().out
    assert "64 clips per optimizer step" in text and "6 processes" in text
    assert "11 or 10 clips per process per step, 2 iterations of at most 6" in text
    assert "30 iterations, 15 optimizer steps per epoch" in text  # 1000 videos: 15 steps of 64


def test_a_run_that_stops_in_preflight_leaves_no_output_folder(tmp_path):
    # the recipe without DATA.PATH_TO_DATA_DIR, run as a user would, from a fresh folder: OUTPUT_DIR ./output
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "run_net.py"), "--cfg", KINETICS, "NUM_GPUS", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "DATA.PATH_TO_DATA_DIR" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == []  # no ./output


def test_a_failed_output_check_removes_the_folders_it_made(tmp_path):
    from timesformer.engine.runner import make_output_dir

    parent = tmp_path / "made"
    out = parent / "a" / "b"
    make_output_dir(str(out))
    assert out.is_dir()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="OUTPUT_DIR"):
        make_output_dir(str(blocker / "out"))
    assert sorted(os.listdir(tmp_path)) == ["a_file", "made"]


def test_mixup_picks_an_even_batch_per_process_or_says_what_to_raise():
    cfg = check_config(load_config(None, ["MIXUP.ENABLE", "True", "TRAIN.BATCH_SIZE", "12",
                                          "TRAIN.MAX_BATCH_PER_PROCESS", "5"]))
    from timesformer.data.batching import train_batch

    assert (train_batch(cfg, 1).per_process, train_batch(cfg, 1).accumulation) == (4, 3)
    with pytest.raises(ConfigError, match="TRAIN.MAX_BATCH_PER_PROCESS = 1.*at least 2 with MIXUP.ENABLE"):
        check_config(load_config(None, ["MIXUP.ENABLE", "True", "TRAIN.BATCH_SIZE", "8",
                                        "TRAIN.MAX_BATCH_PER_PROCESS", "1"]))


def test_the_retired_global_batch_key_says_what_replaced_it():
    with pytest.raises(ConfigError, match="TRAIN.GLOBAL_BATCH_SIZE.*TRAIN.BATCH_SIZE.*effective batch"):
        load_config(None, ["TRAIN.GLOBAL_BATCH_SIZE", "64"])


# ---------------------------------------------------------------------------- the plan (--dry-run)
def test_the_plan_of_the_recipe_on_two_machines(tmp_path):
    from timesformer.engine.plan import plan

    data = kinetics_dir(tmp_path / "k400")
    cfg = load_config(KINETICS, ["DATA.PATH_TO_DATA_DIR", data, "NUM_GPUS", "8", "NUM_SHARDS", "2",
                                 "OUTPUT_DIR", str(tmp_path / "out")])
    p = plan(cfg)
    assert (p.train.processes, p.train.per_process, p.train.accumulation, p.train.effective) == (16, 4, 1, 64)
    assert p.test_per_process == 1
    assert p.train_videos == 1000 and p.iters_per_epoch == 1000 // 16 // 4 and p.steps_per_epoch == 15
    assert p.start.kind == "pretrained"
    text = p.describe()
    for part in ("16 processes", "2 machines", "64 clips per optimizer step", "4 clips", "1 iteration",
                 "1000 videos", "15 iterations", str(tmp_path / "out"), "TIMESFORMER.PRETRAINED_MODEL"):
        assert part in text, part
    assert not (tmp_path / "out").exists()  # a plan writes nothing


def test_the_plan_counts_iterations_as_the_loader_does(data_dir, tmp_path):
    from timesformer.data import build_loader
    from timesformer.engine.plan import plan

    for extra in ({"TRAIN.BATCH_SIZE": 6}, {"TRAIN.BATCH_SIZE": 8, "TRAIN.MAX_BATCH_PER_PROCESS": 3},
                  {"TRAIN.BATCH_SIZE": 32}):
        cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "o"), **extra))
        assert plan(cfg).iters_per_epoch == len(build_loader(cfg, "train")), extra


def test_the_plan_names_the_checkpoint_a_run_resumes_from(data_dir, tmp_path):
    import torch

    from timesformer.engine import run
    from timesformer.engine.plan import plan

    cfg = load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "o"), **{"TEST.ENABLE": False,
                                                                               "TRAIN.EVAL_PERIOD": 0}))
    run(cfg, torch.device("cpu"))
    p = plan(cfg)
    assert p.start.kind == "resume"
    assert "resume" in p.describe() and os.path.basename(p.start.source) in p.describe()


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path, capsys):
    data = kinetics_dir(tmp_path / "k400")
    out = tmp_path / "out"
    argv = ["--cfg", KINETICS, "--dry-run", "DATA.PATH_TO_DATA_DIR", data, "NUM_GPUS", "8", "OUTPUT_DIR", str(out)]
    assert load_tool("run_net").main(argv) == 0
    text = capsys.readouterr().out
    assert "64 clips per optimizer step" in text and "8 processes" in text and "1000 videos" in text
    assert not out.exists()


def test_dry_run_lists_every_problem_and_exits_2(tmp_path, capsys):
    argv = ["--cfg", KINETICS, "--dry-run", "NUM_GPUS", "8", "NUM_SHARDS", "9", "SOLVER.BASE_LR", "0.0",
            "OUTPUT_DIR", str(tmp_path / "out")]
    assert load_tool("run_net").main(argv) == 2
    err = capsys.readouterr().err
    assert "the config has 3 problems" in err
    for key in ("TRAIN.BATCH_SIZE = 64", "SOLVER.BASE_LR = 0.0", "DATA.PATH_TO_DATA_DIR"):
        assert key in err, key


def test_dry_run_as_the_first_torchrun_process_plans_without_a_rendezvous(tmp_path, monkeypatch, capsys):
    data = kinetics_dir(tmp_path / "k400")
    # what torchrun --nnodes 2 --nproc_per_node 8 sets for the first process; nothing listens at the address
    env = {"RANK": "0", "WORLD_SIZE": "16", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "8", "MASTER_ADDR": "HOST",
           "MASTER_PORT": "29500"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    argv = ["--cfg", KINETICS, "--dry-run", "DATA.PATH_TO_DATA_DIR", data, "OUTPUT_DIR", str(tmp_path / "out")]
    run_net = load_tool("run_net")
    assert run_net.main([*argv, "NUM_GPUS", "8", "NUM_SHARDS", "2"]) == 0
    assert "16 processes" in capsys.readouterr().out
    assert run_net.main([*argv, "NUM_GPUS", "8"]) == 2  # the config expects 8 processes, torchrun starts 16
    assert "WORLD_SIZE = 16" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "3")
    assert run_net.main([*argv, "NUM_GPUS", "8", "NUM_SHARDS", "2"]) == 0
    assert capsys.readouterr().out == ""  # one process prints the plan


def test_the_hr_recipe_holds_one_clip_per_process():
    from timesformer.data.batching import train_batch

    cfg = check_config(load_config(HR, ["NUM_GPUS", "8"]))
    batch = train_batch(cfg, 8)
    assert (batch.effective, batch.per_process, batch.accumulation) == (64, 1, 8)


@pytest.mark.parametrize("tool,extra", [("run_net", []), ("run_net", ["--dry-run"]), ("submit", ["--dry-run"])])
def test_the_tools_name_the_problems_of_the_file_and_the_overrides_at_once(tool, extra, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(f"_BASE_: {KINETICS}\nMODEL:\n  NUM_CLASES: 10\n")
    argv = ["--cfg", str(config), *extra, "SOLVER.BASE_LR", "fast", "TRAIN.BATCH", "8",
            "OUTPUT_DIR", str(tmp_path / "o")]
    assert load_tool(tool).main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the config has 3 problems") and len(err.splitlines()) == 1, err
    for part in ("unknown config key MODEL.NUM_CLASES", "SOLVER.BASE_LR = 'fast'", "unknown config key TRAIN.BATCH."):
        assert part in err, part
    assert not (tmp_path / "o").exists()


def test_an_empty_training_list_is_said_as_building_the_dataset_would(tmp_path):
    from timesformer.engine.plan import plan

    data = kinetics_dir(tmp_path / "k400", videos=0)
    cfg = load_config(KINETICS, ["DATA.PATH_TO_DATA_DIR", data, "OUTPUT_DIR", str(tmp_path / "out")])
    p = plan(cfg)
    assert p.train_videos is None and "no videos listed" in p.videos_note
