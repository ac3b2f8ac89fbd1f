"""l2l: a reproducible benchmark pipeline for Label2Label (ECCV 2022)."""

__version__ = "0.1.0"
