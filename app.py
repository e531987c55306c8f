"""Streamlit entry point: `streamlit run app.py`. A router over the pages, with the bar of page links
(views.parts.nav), the presentation switch and the corpus picker."""

import streamlit as st

from views.parts import nav, state, url
from views.parts.corpus_picker import corpus_picker

st.set_page_config(
    page_title="Two-tower search · MS MARCO", page_icon="🔎", layout="wide", initial_sidebar_state="collapsed"
)
page = nav.navigation()
url.arrive(page.url_path)  # which page runs, and whether another ran before it (views.parts.url)
bar = st.container(key="topbar").empty()
nav.top_bar(bar)  # at once, with the values the last run left
url.presentation_switch()
corpus_picker()
try:
    with state.serving():  # background index builds wait until no page is being served
        page.run()
finally:  # drawn again after the page, with the values this run left (also when the page stops)
    nav.top_bar(bar)
