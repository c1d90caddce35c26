"""Motion tokenizer: FSQ (`fsq.py`) and the conv codec with its presets (`model.py`). Folders on disk and the
converter for released MotionMillion weights are in `motionmill.checkpoints`."""
