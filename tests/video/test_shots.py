"""Shot detection on generated edits of real photographs: boundaries where the edit put them, none in a pan."""

import itertools
import tracemalloc

import numpy as np

from motionmill.video.edits import make_edit
from motionmill.video.shots import ShotDetector, detect_shots


def test_cuts_and_fades_are_found_within_two_frames():
    found, expected = 0, 0
    for seed in (5, 6):
        edit = make_edit(seed, shots=4, joins=("cut", "fade-black", "fade-white"))
        boundaries, shots = detect_shots(edit.render())
        expected += len(edit.boundaries)
        found += sum(any(abs(b.frame - t) <= 2 for b in boundaries) for t in edit.boundaries)
        assert len(boundaries) <= len(edit.boundaries) + 1
        assert all(s.start < s.end for s in shots) and all(a.end <= b.start for a, b in itertools.pairwise(shots))
    assert found >= expected - 1


def test_a_fast_pan_over_one_photograph_is_one_shot():
    edit = make_edit(3, shots=1)
    pan = {**edit.shots[0], "photo": "gravel", "centre1": (0.9, 0.1), "centre0": (0.1, 0.9), "length": 120}
    boundaries, shots = detect_shots(type(edit)(edit.size, (pan,), (), (), 120).render())
    assert boundaries == [] and [(s.start, s.end) for s in shots] == [(0, 120)]


def test_a_fade_in_at_the_start_is_no_boundary_and_its_black_frames_no_shot():
    frames = [np.zeros((90, 160, 3), np.uint8)] * 5
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 255, (90, 160, 3)).astype(np.float32)
    frames += [(picture * a).astype(np.uint8) for a in np.linspace(0.1, 1, 10)] + [picture.astype(np.uint8)] * 30
    boundaries, shots = detect_shots(frames)
    assert boundaries == [] and shots[0].start >= 5 and shots[-1].end == len(frames)


def test_memory_does_not_grow_with_the_video():
    edit = make_edit(4, shots=1)
    frame = next(edit.render())
    detector = ShotDetector()
    tracemalloc.start()
    for _ in range(60):  # the window of recent thumbnails fills
        detector.push(frame)
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(400):
        detector.push(frame)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 200_000  # a few numbers per frame kept, not the frames (400 of them are 69 MB)
