"""The Attention Head of seed 000: a trainable pooling head on top of a frozen vision backbone.

backbone tokens (B, N, C) -> reducer (B, M, C) -> attention norm (B, M, C) -> attention pooling with
the anchor token (B, C) -> Matryoshka projection: L2-normalised prefixes of a (B, D) embedding.
"""
