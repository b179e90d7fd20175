"""The report of a pruning run: one folder per run under reports/.

:mod:`pipeline.report.runs` (listing and reading run folders) loads without matplotlib or torch;
:mod:`pipeline.report.writer` draws the figures and writes the folder.
"""
