"""Each page's caches and page-wide settings: what it computes once per input and reuses across reruns."""
