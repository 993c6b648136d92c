"""Inference on trained models: checkpoint loading, chunk predictions (never imports depsev.train)."""
