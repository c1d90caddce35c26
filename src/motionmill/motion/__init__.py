"""The motion core: skeleton, rotations, kinematics, the 272 and 263 representations, the Motion container and
physical plausibility measures (`physics.py`)."""
