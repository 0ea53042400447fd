"""tools/benchmark.py and tools/benchmark_table.py on the CPU with a tiny model."""
import json

import pytest
import torch

from tests.conftest import load_tool
from timesformer import benchmark as bench
from timesformer.models import TimeSformer
from timesformer.models.complexity import count_flops

benchmark, benchmark_table = load_tool("benchmark"), load_tool("benchmark_table")

TINY_OPTS = ["MODEL.EMBED_DIM", "32", "MODEL.DEPTH", "1", "MODEL.NUM_HEADS", "2", "MODEL.PATCH_SIZE", "8",
             "DATA.NUM_FRAMES", "2", "DATA.TRAIN_CROP_SIZE", "32", "MODEL.NUM_CLASSES", "5"]
CPU = ["--device", "cpu", "--batch", "2", "--steps", "2", "--warmup", "1"]


def read_rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_train_against_transformers_reports_flops_mfu_and_ratio(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    assert benchmark.main(["--mode", "train", *CPU, "--peak-tflops", "0.5", "--compare-hf", "--json", str(out),
                           *TINY_OPTS]) == 0
    hf, ours = read_rows(out)
    assert hf["name"].startswith("transformers") and ours["name"] == "timesformer"
    model = TimeSformer(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_frames=2,
                        num_classes=5)
    assert ours["flops_per_clip"] == count_flops(model, torch.randn(1, 3, 2, 32, 32))
    for r in (hf, ours):
        assert r["batch"] == 2 and r["clips_per_s"] > 0 and r["peak_mem_gib"] is None  # CPU: no peak memory
        assert r["achieved_tflops"] == pytest.approx(2 * 3 * r["flops_per_clip"] * r["clips_per_s"] / 1e12)
        assert r["mfu"] == pytest.approx(r["achieved_tflops"] / 0.5)
    assert ours["ratio"] == pytest.approx(ours["clips_per_s"] / hf["clips_per_s"])
    printed = capsys.readouterr().out
    assert "clips/s" in printed and "MFU" in printed and "ratio" in printed


def test_infer_checks_parity_and_says_when_there_is_no_baseline(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    benchmark.main(["--mode", "infer", *CPU, "--compare-hf", "--json", str(out), *TINY_OPTS,
                    "TIMESFORMER.ATTENTION_TYPE", "axial"])
    (row,) = read_rows(out)
    assert row["mfu"] is None  # no known peak for a CPU and none given
    assert row["max_abs_diff_vs_eager"] == 0 and row["max_abs_diff_vs_explicit"] < 1e-5
    assert "transformers has no axial attention" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no 'axial' attention"):
        bench.build_hf_baseline(dict(attention_type="axial"))


def test_measure_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="'train' or 'infer'"):
        bench.measure("m", torch.nn.Identity(), torch.zeros(1, 3, 1, 8, 8), "eval")


def test_table_runs_every_command_and_records_failures(tmp_path, capsys):
    commands = tmp_path / "suite.txt"
    good = " ".join(["--mode", "infer", *CPU, "--no-flops", *TINY_OPTS])
    commands.write_text(f"# a comment\n{good}\n\n--mode infer {' '.join(CPU)} MODEL.NO_SUCH_KEY 1\n")
    out, table = tmp_path / "rows.jsonl", tmp_path / "table.md"
    rc = benchmark_table.main(["--commands", str(commands), "--json", str(out), "--markdown", str(table)])
    assert rc == 1  # one command failed; the other still ran
    ok, failed = read_rows(out)
    assert ok["name"] == "timesformer" and ok["clips_per_s"] > 0
    assert "NO_SUCH_KEY" in failed["error"]
    text = table.read_text()
    assert f"`python tools/benchmark.py {good}`" in text and "NO_SUCH_KEY" in text
    assert benchmark_table.main(["--commands", str(tmp_path / "missing.txt")]) == 2


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--batch", "-1"], ["--mode", "eval"]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        benchmark.parse_args(argv)


def test_eval_gather_benchmark_reports_bytes_per_view(capsys):
    benchmark_eval_gather = load_tool("benchmark_eval_gather")
    assert benchmark_eval_gather.main(["--classes", "100", "--views-per-video", "3", "--views", "300",
                                       "--batch", "16", "--ranks", "2"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].strip("| ").split(" | ")
    sent, slices = float(row[3].replace(",", "")), float(row[5].replace(",", ""))
    assert row[:3] == ["100", "3", "16"] and 400 / 3 < sent < 400 and slices > 16 * 400
    m = benchmark_eval_gather.measure(100, 3, 300, 16, 2)
    assert m["rank0_mib"] == pytest.approx(m["bytes_per_view"] * 300 / 2 ** 20)
    assert benchmark_eval_gather.main(["--views-per-video", "0"]) == 2
