"""Model folders on disk, and readers of other projects' released checkpoints.

Every model folder is written by a `save_<model>` function and read by the matching `load_<model>`
(`tokenizer.py`, `generator.py`, `evaluator.py`; the layout they share is in `folder.py`). Released files of other
projects are read without running their code (`released.py`) and loaded into our modules: MotionMillion's FSQ
tokenizer (`convert_motionmillion.py`) and text-to-motion generator (`motionmillion_generator.py`), the standard
HumanML3D evaluator (`humanml3d_evaluator.py`) and MotionMillion's 272 evaluator (`motionmillion_evaluator.py`).
All file I/O of models lives here, so `tokenizer/`, `generator/` and `evaluator/` stay pure torch modules.
"""
