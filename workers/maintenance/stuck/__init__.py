"""Stuck-workflow detection and recovery: detect (queries), policy (decisions), job (the run)."""
