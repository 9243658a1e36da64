"""The library behind the app: exact attention out of real models, and what is computed from it (no Streamlit)."""
