"""Utilities: distributed helpers, rank-aware logging, progress reporting and meters."""
