"""Detection: per-series baselines, log template mining and classification."""
