"""Datasets: the synthetic generator, the formats' importers, decoding, audit and splits."""
