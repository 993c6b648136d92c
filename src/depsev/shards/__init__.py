"""From per-session feature files to model inputs.

- :mod:`depsev.shards.normalize`: the paper's eq. 1-2 (min-max scaling, then z-scoring) with every
  statistic fitted on TRAINING participants only (``results/normalize/<modality>.json``), applied
  unchanged to train, dev and test.
- chunking of normalized sessions into fixed-length, masked chunks written as Parquet shards
  (``results/shards/<modality>/<split>/part-*.parquet``).
"""
