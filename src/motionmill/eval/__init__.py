"""Evaluation: pure metric functions (`metrics.py`), the benchmark suites (`benchmark.py`: the standard protocol, the
zero-shot suite and the prompts suite) and predicate scoring of the built-in captions (`alignment.py`). Evaluator
networks live in `motionmill.evaluator`, physics measures in `motionmill.motion.physics`, the HTML report in
`motionmill.export.report` and its rating server in `motionmill.serve`."""
