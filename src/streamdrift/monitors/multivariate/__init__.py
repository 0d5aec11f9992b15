"""Multivariate drift: the PCA reconstruction error of each record, its window distribution against the
baseline's. See :mod:`.monitor`."""
