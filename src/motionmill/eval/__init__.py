"""Evaluation: pure metric functions, the evaluator network, physical plausibility, benchmark suites and reports."""
