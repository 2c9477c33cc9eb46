"""Theano Ops of dltut's own: :mod:`~dltut.ops.conv`, the fused convolution + pooling Op
LeNet5's layers use on the CPU."""
