"""ResNet MNIST Studio: `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="ResNet MNIST Studio", page_icon="🔢", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Overview", icon="🏠", default=True),
        st.Page("pages/train.py", title="Train", icon="🏋️"),
        st.Page("pages/draw.py", title="Draw", icon="✏️"),
        st.Page("pages/runs.py", title="Runs", icon="📊"),
    ]
)
navigation.run()
