"""Weights & Biases logging (LOG.WANDB), offline: a tiny real run writes its W&B run under OUTPUT_DIR,
whose logged scalars (read back with wandb's own reader of the .wandb log, ``wandb leet inspect``) are
stats.jsonl's and TensorBoard's, with the config; a resumed run continues the same W&B run; only rank
0 logs; a missing wandb or a W&B that cannot start is one line naming the fix. Nothing is sent."""
import glob
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import QUICKSTART, ROOT, load_tool, tiny_opts
from timesformer.utils.logging import read_json_lines

WANDB_OPTS = {"LOG.WANDB": True, "LOG.WANDB_PROJECT": "tiny", "LOG.WANDB_NAME": "first",
              "LOG.WANDB_TAGS": "['tiny', 'divided']", "TRAIN.EVAL_PERIOD": 1}


@pytest.fixture(scope="module")
def wandb_env(tmp_path_factory):
    """Offline and silent, W&B's own folders (settings, cache, staging) in a temporary one, no API key:
    nothing can be sent and nothing is written outside the test's folders."""
    home = tmp_path_factory.mktemp("wandb_home")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(home / "dir"),
           "WANDB_CONFIG_DIR": str(home / "config"), "WANDB_CACHE_DIR": str(home / "cache"),
           "WANDB_DATA_DIR": str(home / "data"), "WANDB_BASE_URL": "http://127.0.0.1:9"}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WANDB_API_KEY", raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        yield dict(os.environ)


def _expected(records) -> list:
    """What W&B should hold for stats records: each one's numbers as <type>/<key>, with its iter."""
    return [{**{f"{r['type']}/{k}": v for k, v in r.items() if k not in ("type", "iter")
                and isinstance(v, (int, float))}, "iter": r["iter"]} for r in records]


def _inspect(run_dir: str) -> list:
    """The records of an offline run's .wandb log as wandb's own reader gives them (JSON lines)."""
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", run_dir],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _history(records: list) -> list:
    """The logged rows of an offline run, W&B's own keys (``_step``, ``_runtime``...) left out."""
    return [{k: v for k, v in r["history"]["item"].items() if not k.startswith("_")}
            for r in records if r["type"] == "history"]


def _run(records: list) -> dict:
    """The run record: id, project, name, tags, config."""
    [run] = [r["run"] for r in records if r["type"] == "run"]
    return run


def _tensorboard_tags(out_dir: str) -> set:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for sub in ("tensorboard", os.path.join("tensorboard", "test")):
        acc = EventAccumulator(os.path.join(out_dir, sub), size_guidance={"scalars": 0})
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_a_run_logs_stats_and_config_and_a_resumed_run_continues_it(data_dir, tmp_path, wandb_env):
    out = str(tmp_path / "run")
    run_net = load_tool("run_net")
    assert run_net.main(["--cfg", QUICKSTART, *tiny_opts(data_dir, out, **WANDB_OPTS)]) == 0
    [first] = glob.glob(os.path.join(out, "wandb", "offline-run-*"))  # under OUTPUT_DIR
    stats = read_json_lines(os.path.join(out, "stats.jsonl"))
    assert {r["type"] for r in stats} == {"train_iter", "train_epoch", "val_epoch", "test_final"}
    records = _inspect(first)
    history = _history(records)
    assert history == _expected(stats)  # every record, in order, the same values
    assert {k for row in history for k in row} - {"iter"} == _tensorboard_tags(out)  # TensorBoard's scalars
    run_id = json.loads(Path(out, "wandb_run.json").read_text())["id"]
    run = _run(records)
    assert (run["run_id"], run["project"], run["display_name"], run["tags"]) == (run_id, "tiny", "first",
                                                                                  ["tiny", "divided"])
    config = {k: v for k, v in run["config"]["update"].items() if k != "_wandb"}
    assert config == yaml.safe_load(Path(out, "config.yaml").read_text())  # the whole merged config
    summary = {k: v for r in records if r["type"] == "summary" for k, v in r["summary"]["update"].items()}
    final = stats[-1]
    assert final["type"] == "test_final" and summary["test_final/top1"] == final["top1"]
    assert [r["exit"].get("exit_code", 0) for r in records if r["type"] == "exit"] == [0]  # finished

    # resumed in the same OUTPUT_DIR for a second epoch: the same W&B run goes on
    opts = tiny_opts(data_dir, out, **{**WANDB_OPTS, "SOLVER.MAX_EPOCH": 2})
    assert run_net.main(["--cfg", QUICKSTART, *opts]) == 0
    [second] = set(glob.glob(os.path.join(out, "wandb", "offline-run-*"))) - {first}
    records = _inspect(second)
    assert _run(records)["run_id"] == run_id and _run(records)["config"]["update"]["SOLVER"]["MAX_EPOCH"] == 2
    resumed = read_json_lines(os.path.join(out, "stats.jsonl"))[len(stats):]
    assert resumed and min(r["iter"] for r in resumed) > final["iter"]  # the second epoch only
    assert _history(records) == _expected(resumed)


@pytest.mark.slow
def test_only_rank_0_logs(data_dir, tmp_path, wandb_env):
    out = str(tmp_path / "two")
    env = {k: v for k, v in wandb_env.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
    opts = tiny_opts(data_dir, out, **{**WANDB_OPTS, "NUM_GPUS": 2, "TRAIN.EVAL_PERIOD": 1})
    proc = subprocess.run([sys.executable, "tools/run_net.py", "--cfg", QUICKSTART, *opts], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [run_dir] = glob.glob(os.path.join(out, "wandb", "*run-*"))  # one W&B run: rank 1 started none
    assert _history(_inspect(run_dir)) == _expected(read_json_lines(os.path.join(out, "stats.jsonl")))


# Makes ``import wandb`` fail as it does where wandb is not installed (a real ModuleNotFoundError from
# the import system), then runs the tool.
WITHOUT_WANDB = textwrap.dedent("""
    import sys

    class NoWandb:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "wandb":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoWandb())
    from timesformer.cli.run_net import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_missing_wandb_is_one_line_naming_the_extra(data_dir, tmp_path, wandb_env):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", WITHOUT_WANDB, "--cfg", QUICKSTART,
                           *tiny_opts(data_dir, str(out), **WANDB_OPTS)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=wandb_env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("error: LOG.WANDB = True, but wandb cannot be imported (No module named 'wandb')")
    assert 'pip install "timesformer[wandb]"' in lines[0] and "LOG.WANDB False" in lines[0]
    assert not (out / "stats.jsonl").exists() and not (out / "checkpoints").exists()  # stopped before any work


def test_a_wandb_that_cannot_start_is_one_line_saying_how_to_log_in_or_go_offline(data_dir, tmp_path, wandb_env):
    # online without an API key (and a W&B server address nobody answers at): W&B refuses to start
    env = {**wandb_env, "WANDB_MODE": "online"}
    out = str(tmp_path / "run")
    proc = subprocess.run([sys.executable, "tools/run_net.py", "--cfg", QUICKSTART,
                           *tiny_opts(data_dir, out, **WANDB_OPTS)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0 and last.startswith("error: LOG.WANDB = True, but W&B could not start the run")
    assert "wandb login" in last and "WANDB_MODE=offline" in last and f"wandb sync {out}/wandb" in last


def test_a_damaged_run_id_file_is_named(data_dir, tmp_path, wandb_env, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "wandb_run.json").write_text('{"id": ')  # cut short
    assert load_tool("run_net").main(["--cfg", QUICKSTART, *tiny_opts(data_dir, str(out), **WANDB_OPTS)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {out / 'wandb_run.json'}: not a W&B run id file") and "delete it" in err


@pytest.mark.parametrize("key, value, expected", [
    ("LOG.WANDB_PROJECT", "''", "a W&B project name"),
    ("LOG.WANDB_TAGS", "['ok', '']", "a list of names of 1 to 64 characters"),
])
def test_bad_wandb_keys_are_named(key, value, expected):
    from timesformer.config import ConfigError, load_config
    from timesformer.engine import check_config

    with pytest.raises(ConfigError, match=f"{key} = .* expected {expected}"):
        check_config(load_config(None, ["LOG.WANDB", "True", key, value]))
