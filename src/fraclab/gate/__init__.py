"""`fraclab check-metrics`: the regression gate over the DVC metrics files.

``rules`` reads the rules file, ``compare`` judges baseline against now and writes the
table, ``dvcread`` reads the metrics of the workspace and of a git revision through DVC.
"""
