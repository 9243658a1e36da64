"""Head atlas: what every head does across a corpus (per-head measures, top examples), computed on Ray and kept
in DuckDB."""
