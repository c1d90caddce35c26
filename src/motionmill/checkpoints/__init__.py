"""Model folders on disk: save and load tokenizers and generators, and convert released MotionMillion checkpoints.

All file I/O of models lives here, so `tokenizer/` and `generator/` stay pure torch modules.
"""
