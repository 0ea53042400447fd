"""Install with ``pip install -e .`` (add ``[dev]`` for the test suite)."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _reqs(name: str):
    lines = (HERE / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


setup(
    name="timesformer",
    version="0.1.0",
    description="Training and evaluating video transformers: TimeSformer with all five space-time attention schemes",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["timesformer", "timesformer.*"]),
    include_package_data=True,
    package_data={"timesformer": ["**/*.txt", "**/*.json"]},
    install_requires=_reqs("requirements.txt"),
    # [torchcodec]: the optional decoder (DATA.DECODING_BACKEND torchcodec, on a GPU with
    # DATA.DECODING_DEVICE cuda); it also needs FFmpeg's shared libraries, see INSTALL.md.
    extras_require={"dev": _reqs("requirements-dev.txt"), "torchcodec": ["torchcodec>=0.8"]},
)
