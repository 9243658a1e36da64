"""The Text page's views: each lays out one tab from a capture; none computes anything itself."""
