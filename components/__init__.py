"""Arrays in, figures out: plotly heatmaps, photo overlays, walkthrough bars, the bertviz embedding; no model code."""
