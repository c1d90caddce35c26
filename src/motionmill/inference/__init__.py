"""Inference: pure logit transforms and the KV-cached, batched decode loop (`sampling.py`)."""
