"""The package as pip installs it: a wheel built from the source (nothing downloaded), installed into a
folder of its own, and the ``timesformer`` command run from an empty folder with no checkout in sight."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

SOURCE = ["timesformer", "pyproject.toml", "setup.py", "README.md", "LICENSE", "requirements.txt",
          "requirements-dev.txt", "requirements-torchcodec.txt", "requirements-wandb.txt"]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_the_installed_wheel_runs_a_packaged_config_from_an_empty_folder(tmp_path):
    src = tmp_path / "src"  # what an sdist holds: building never writes into the checkout
    src.mkdir()
    for name in SOURCE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp_path / "dist"), str(src)])
    [wheel] = (tmp_path / "dist").glob("timesformer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for packaged in ("configs/Synthetic/quickstart.yaml", "configs/_BASE_/TimeSformer_recipe.yaml",
                     "configs/Kinetics/_BASE_/kinetics400.yaml", "classnames/kinetics400.txt"):
        packaged = f"timesformer/{packaged}"
        assert packaged in names, packaged
    [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = zipfile.ZipFile(wheel).read(meta).decode()
    for extra in ("dev", "torchcodec", "wandb"):  # pip install "timesformer[wandb]" and the like
        assert f"Provides-Extra: {extra}" in metadata, extra
    assert 'Requires-Dist: wandb>=0.31; extra == "wandb"' in metadata
    assert 'Requires-Dist: wandb>=0.31; extra == "dev"' in metadata  # the W&B tests
    from timesformer import __version__

    assert f"\nVersion: {__version__}\n" in metadata  # one version, the package's
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)])
    # the installed copy only: the dependencies come from this interpreter, timesformer from site/ (it
    # precedes the editable install's finder), and the current folder is empty
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([sys.executable, "-c", "import timesformer; print(timesformer.__file__)"], cwd=empty, env=env)
    assert where.stdout.strip() == str(site / "timesformer" / "__init__.py")
    command = str(site / "bin" / "timesformer")
    listing = _run([command, "--help"], cwd=empty, env=env).stdout
    assert "run_net" in listing and "predict" in listing and "convert_checkpoint" in listing
    out = tmp_path / "out"
    argv = ["run_net", "--cfg", "configs/Synthetic/quickstart.yaml", "--dry-run", "OUTPUT_DIR", str(out)]
    plan = _run([command, *argv], cwd=empty, env=env).stdout
    assert plan.startswith("run plan") and "(synthetic train)" in plan and f"output       {out} (to be created" in plan
    assert os.listdir(empty) == []
