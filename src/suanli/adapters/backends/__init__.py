"""Execution backends: where a placed job really runs (local subprocess, Ray, Slurm)."""
