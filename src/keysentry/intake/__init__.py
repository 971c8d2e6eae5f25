"""Reports from outside detectors: GitHub's secret scanning partner protocol, and more to come."""
