"""Small shared utilities: atomic file writes (`io.py`), recipe loading (`config.py`), spec strings (`spec.py`),
where a model came from (`provenance.py`) and requests to OpenAI-compatible chat endpoints (`chat.py`)."""
