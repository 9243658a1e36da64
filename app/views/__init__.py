"""One module per tab, grouped by page: each lays out one tab from a capture and computes nothing itself."""
