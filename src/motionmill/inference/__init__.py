"""Inference: pure logit transforms and the KV-cached, batched decode loop (`sampling.py`), the sampling settings
(`settings.py`), the `TextToMotion` pipeline (`pipeline.py`), `motionmill generate` (`generate.py`) and evaluators at
run time (`evaluator.py`: texts and motions in, embeddings out)."""
