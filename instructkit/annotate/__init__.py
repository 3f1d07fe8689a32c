"""The human-feedback loop through Label Studio: ``annotate-export`` and ``annotate-import``.

templates (labeling configs) -> export (tasks) -> [Label Studio] -> importer (JSON, JSON-MIN, CSV)
-> validate -> aggregate / calibrate / quality (agreement) -> binarize -> report; pipeline runs
the import end to end, live talks to a running server. See docs/annotate.md.
"""
