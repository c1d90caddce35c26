"""Motion tokenizer: FSQ (`fsq.py`), the conv codec and its presets (`model.py`), folders on disk
(`checkpoint.py`) and the converter for released MotionMillion weights (`convert.py`)."""
