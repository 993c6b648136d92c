"""Training of the depsev models: losses (:mod:`depsev.train.losses`) and the training loop.

Models (:mod:`depsev.models`) know nothing about training; this package owns the losses, the
optimiser set-up and the loop that fits ``build_model(kind, modality, cfg)`` on chunk shards.
"""
