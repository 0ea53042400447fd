"""tools/ablate_attention.py: trains each scheme, prints and saves the table."""
from pathlib import Path

from tests.conftest import QUICKSTART, load_tool, tiny_opts


def test_table_for_two_schemes(tmp_path, capsys):
    from timesformer.data.datasets.synthetic import generate

    data = str(tmp_path / "data")
    generate(data, 4)
    tool = load_tool("ablate_attention")
    table = str(tmp_path / "table.md")
    argv = ["--cfg", QUICKSTART, "--schemes", "space_only", "divided_space_time", "--out", table,
            *tiny_opts(data, str(tmp_path / "out"), **{"DATA.SYNTHETIC_NUM_VIDEOS": 4, "TRAIN.EVAL_PERIOD": 0})]
    assert tool.main(argv) == 0
    printed = capsys.readouterr().out
    rows = [line for line in Path(table).read_text().splitlines() if line.startswith("| ") and "attention" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["space_only", "divided_space_time"]
    params = [float(r.split("|")[2]) for r in rows]
    assert params[1] > params[0]  # divided adds a temporal attention per block
    assert rows[0] in printed
