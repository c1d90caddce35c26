"""Text side of the generator: per-token text encoders (`encoders.py`), the offline embedding cache (`cache.py`)
and optional LLM prompt rewriting (`rewrite.py`). Heavy dependencies (`transformers`) load only on first use."""
