"""ResNet MNIST Studio: `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="ResNet MNIST Studio", page_icon="🔢", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
        st.Page("pages/my_digits.py", title="My digits", icon=":material/photo_library:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/analytics:"),
    ]
)
navigation.run()
