"""The Streamlit app's pages and what they share (state, components, charts)."""
