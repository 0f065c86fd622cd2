"""Optimizer Explorer's Streamlit frontend."""
