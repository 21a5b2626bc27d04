"""Maintenance jobs run by beat (or by hand): each one single-flight, time-limited, recorded as a run row."""
