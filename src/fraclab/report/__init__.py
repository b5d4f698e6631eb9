"""The `report` stage: every metrics and plots file turned into one page a reader can trust.

:mod:`fraclab.study` reads the files and draws the conclusions, ``comparisons`` pairs the
backbones, ``figures`` draws with matplotlib, ``sections`` builds the document (tables,
figures, text) that ``html`` and ``markdown`` write, ``dvcplots`` writes the combined files
behind the top-level ``dvc plots`` and ``stage`` runs it all.
"""
