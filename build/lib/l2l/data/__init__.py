"""Datasets: one prepared-dataset format, one loader, generators and preparers that write it."""

from l2l.data.format import PreparedDataset, load_prepared, write_prepared

__all__ = ["PreparedDataset", "load_prepared", "write_prepared"]
