"""Install with ``pip install -e .`` (add ``[dev]`` for the test suite). The metadata lives in
pyproject.toml; this file only lets older tools call ``setup.py``."""
from setuptools import setup

setup()
