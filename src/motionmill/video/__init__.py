"""The annotation pipeline from video (docs/video.md): streaming decode, shot detection, MediaPipe pose, one person
per track, lifting to SMPL-22 joints on the ground, filters with recorded reasons; and the closed-loop harness that
renders built-in motions to video to test it. Needs the `video` extra."""
