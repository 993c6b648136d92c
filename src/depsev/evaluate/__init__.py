"""Evaluation: per-participant aggregation of chunk predictions and the metrics depsev reports.

- :mod:`depsev.evaluate.aggregate` turns chunk predictions (``mu``, ``var``, ``p_band_0..4``) into
  one prediction per participant -- the level every headline number is computed at.
- :mod:`depsev.evaluate.metrics` computes regression (MAE, RMSE, CCC, Pearson r, the paper's
  normalised-scale errors), classification (5-band accuracy, macro-F1, confusion matrix, binary F1 at
  PHQ-8 >= 10) and uncertainty (Gaussian NLL, interval coverage) metrics, breakdowns by interviewer type
  and gender, mean +- sd over seeds and the training-mean baseline.
- :mod:`depsev.evaluate.predictions` predicts trained checkpoints on a labelled split of the chunk
  shards (rule ``evaluate``): the only code that opens the test split.

This package never imports :mod:`depsev.train`: it judges predictions, whoever made them.
"""
