"""Placeholder while this page is being built."""

import streamlit as st

st.info("This page is being built.")
