"""Text-motion evaluator networks, pure torch like `tokenizer/` and `generator/`: our TMR-style contrastive
evaluator (`tmr.py`) and re-implementations of the standard HumanML3D evaluator and MotionMillion's 272 evaluator
(`legacy.py`). Their folders and released weights are read in `motionmill.checkpoints`; `motionmill.inference.evaluator`
pairs each network with its text encoder and motion preprocessing."""
