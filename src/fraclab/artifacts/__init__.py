"""The files stages hand each other, each with one writer and one reader.

`manifest`: ``artifacts/prepared/manifest.csv``, one row per prepared image.
`predictions`: the prediction CSVs of ``classify-cv`` and ``calibrate``, the fold-model key.
"""
