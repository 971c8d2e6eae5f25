"""Scan reports for other tools: SARIF for code-scanning viewers, baselines for known findings."""

from keysentry.report.baseline import BaselineError, apply_baseline, load_baseline
from keysentry.report.sarif import sarif_log

__all__ = ["BaselineError", "apply_baseline", "load_baseline", "sarif_log"]
