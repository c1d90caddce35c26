"""The motion core: skeleton, rotations, kinematics, the 272 and 263 representations, the Motion container,
physical plausibility measures (`physics.py`) and smoothing along time (`signal.py`)."""
