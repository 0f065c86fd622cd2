"""Entry point: the page navigation of Optimizer Explorer."""

import streamlit as st

st.set_page_config(page_title="Optimizer Explorer", page_icon="🧭", layout="wide")
st.title("Optimizer Explorer")
st.info("The pages are being built.")
