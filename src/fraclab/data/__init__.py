"""Datasets: the synthetic generator, importers, audit, splits and image decoding."""
