"""Attacks on any classifier through one small interface (victims.py), batched with per-sample
early stop (base.py); the experiments and their record tables (experiments.py, records.py)."""
