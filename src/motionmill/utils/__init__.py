"""Small shared utilities: atomic file writes (`io.py`), recipe loading (`config.py`) and spec strings (`spec.py`)."""
