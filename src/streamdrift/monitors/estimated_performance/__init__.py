"""Confidence-based performance estimation (CBPE): a binary classifier's metrics estimated per window from its
calibrated scores, without labels. See :mod:`.monitor`."""
