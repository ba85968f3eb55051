"""Layers beyond the dense net (course layouts): one file each, forward and hand-written backward side by side."""

from jaxbp.layers.batchnorm import (
    BatchNormCache,
    LayerNormCache,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from jaxbp.layers.conv import conv_backward, conv_forward, zero_pad
from jaxbp.layers.lstm import (
    LSTMCaches,
    lstm_backward,
    lstm_caches_as_list,
    lstm_caches_as_stack,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
)
from jaxbp.layers.pool import pool_backward, pool_forward
from jaxbp.layers.rnn import (
    RNNCaches,
    rnn_backward,
    rnn_caches_as_list,
    rnn_caches_as_stack,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
)

__all__ = [
    "BatchNormCache",
    "LSTMCaches",
    "LayerNormCache",
    "RNNCaches",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "conv_backward",
    "conv_forward",
    "layernorm_backward",
    "layernorm_forward",
    "lstm_backward",
    "lstm_caches_as_list",
    "lstm_caches_as_stack",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "pool_backward",
    "pool_forward",
    "rnn_backward",
    "rnn_caches_as_list",
    "rnn_caches_as_stack",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
    "zero_pad",
]
