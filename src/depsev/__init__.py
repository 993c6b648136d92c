"""depsev: multimodal depression-severity modelling (Zhang et al. 2025) as a reproducible workflow."""

__version__ = "0.1.0"
