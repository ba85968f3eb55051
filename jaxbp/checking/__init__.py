"""Checking a hand-written backprop: the comparison and its bound, the float64 reference, diagnosis, report."""
