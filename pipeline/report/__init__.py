"""The report of a run (:mod:`~pipeline.report.writer`: its tables, figures and pages) and what a
run leaves on disk (:mod:`~pipeline.report.store`, loaded without torch or matplotlib)."""
