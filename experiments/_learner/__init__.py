"""Correct learner code in the course's exact signatures, for experiments/bench_check.py to check.

Each file is what a learner hands in for one notebook (NumPy only, the course's names, shapes and
caches), so `jaxbp check FILE:NAME` grades it as it would the learner's: planar.py (C1W3),
gradient_checking.py, regularization.py and dropout.py (C2W1), deep.py (C1W4 step by step), conv.py
and lstm.py (C5W1/C4W1 layer backwards). Nothing imports this package; the files are run by path.
"""
