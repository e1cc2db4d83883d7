"""Evaluation: how good a trained model is, and on what.

report.py       metrics on the test set or the run's validation split; metrics.json, report.md
plots.py        learning curves, the confusion matrix, the worst errors (matplotlib, Agg)
corruptions.py  the robustness benchmark's corruptions of MNIST images (benchmarks/robustness.py)
"""
