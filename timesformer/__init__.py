"""timesformer: training and evaluating video transformers (TimeSformer, ICML 2021)."""
__version__ = "0.1.0"
