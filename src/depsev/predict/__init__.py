"""Using trained models: ``depsev predict`` on a new session (:mod:`~depsev.predict.session`, which
orchestrates :mod:`~depsev.predict.inputs`, :mod:`~depsev.predict.bundle`,
:mod:`~depsev.predict.contract`, :mod:`~depsev.predict.features`, :mod:`~depsev.predict.batches` and
:mod:`~depsev.predict.result`), ONNX export (:mod:`~depsev.predict.export`) and latency benchmarks
(:mod:`~depsev.predict.bench`).

The model folder and the batched inference loop they use sit below this package, in
:mod:`depsev.checkpoint` and :mod:`depsev.inference`; it never imports :mod:`depsev.train`.
"""
