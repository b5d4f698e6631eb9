"""The `report` stage: every metrics and plots file turned into one page a reader can trust.

``facts`` reads the files, ``comparisons`` pairs the backbones, ``figures`` draws with
matplotlib, ``sections`` builds the document (tables, figures, text) that ``html`` and
``markdown`` write, ``summary`` keeps the headline numbers, ``dvcplots`` writes the combined
files behind the top-level ``dvc plots`` and ``stage`` runs it all.
"""
