"""Experiments: one question about gradients per module (see each docstring); `jaxbp experiment NAME` runs one."""
