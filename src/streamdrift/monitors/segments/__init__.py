"""Segments: drift per slice of a model's traffic (region, model version, customer tier), in both paths.

:mod:`.spec` (definitions, each row's segment), :mod:`.state` (the capped per-segment window profiles),
:mod:`.section` (the baseline's per-segment profiles), :mod:`.monitor` (the monitor kind, judged with the
multiple-testing correction extended over segments x features). See docs/segments.md.
"""
