"""Multi-Token Attention: the kernel operations, applied to real maps and trained in a toy task."""
