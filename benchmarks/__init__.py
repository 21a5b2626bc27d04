"""medic's benchmarks: scripts run by hand (`python -m benchmarks.<name>`), not by pytest or CI.

See docs/performance.md for what each measures, how to run it and the numbers measured.
"""
