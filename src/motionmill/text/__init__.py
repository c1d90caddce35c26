"""Text: per-token text encoders (`encoders.py`), the offline embedding cache (`cache.py`), optional LLM prompt
rewriting (`rewrite.py`), splitting a prompt into ordered steps (`steps.py`), caption variants for evaluator training
(`sides.py`, `details.py`) and the HumanML3D evaluator's GloVe inputs (`glove.py`). Heavy dependencies
(`transformers`) load only on first use."""
