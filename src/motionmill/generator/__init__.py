"""Text-conditioned motion generator: the LLaMA prefix-LM, its `GeneratorConfig` presets and the KV cache
(`model.py`)."""
