"""Text and figures for the pages, with no Streamlit import.

Number formats, plain text, job status, setting notes, settings in the URL, model choice, figures.
"""
