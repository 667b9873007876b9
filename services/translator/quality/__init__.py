"""Measuring what a translation did: set-level fidelity (KID/FID) and the per-box label-safety audit."""
