"""The motion core: skeleton, rotations, kinematics, the 272 and 263 representations, and the Motion container."""
