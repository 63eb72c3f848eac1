"""The Draw page's canvas, with the canvas's own toolbar moved below the drawing area and shown.

streamlit-drawable-canvas 0.13 hangs its toolbar (upload, undo, redo, edit, reset) over the top of the
canvas, invisible until the pointer hovers it, where it still takes the pointer: a stroke begun in the
top ~30 px of the right ~140 px was dropped (every time on a touch screen, which has no hover). The
component has no option to move or hide it, and it draws inside a shadow root that the page's CSS
cannot reach; so a small script of ours (st.html, run in the page) adds one stylesheet to that shadow
root, which lays the toolbar out under the canvas, always visible, with only Undo and Redo (the page's
Clear replaces its reset; upload and edit mean nothing when every stroke is sent at once).
"""

from __future__ import annotations

import json

import streamlit as st
from streamlit_drawable_canvas import CanvasResult, st_canvas

from resnet_mnist.ui.figures import palette

CANVAS_KEY = "draw_canvas"  # the canvas's key is CANVAS_KEY_<version>: Clear makes a new one
_FIX_KEY = "draw_toolbar_fix"  # not under CANVAS_KEY: the hosts selector must not match it

# Inside the canvas's shadow root (class names from the component's index-style.css).
TOOLBAR_CSS = """
.dc-toolbar, .dc-toolbar[data-pinned], .dc-root:hover > .dc-toolbar {
  position: static !important; opacity: 1 !important; top: auto !important;
  transition: none !important; padding: 0.375rem 0 0 0 !important; justify-content: flex-start;
}
.dc-toolbar-card { box-shadow: none !important; border: 1px solid var(--st-border-color, lightgrey); }
.dc-icon-button { padding: 0.375rem !important; }
.dc-icon-button svg { width: 1.2rem !important; height: 1.2rem !important; }
.dc-icon-button[aria-label="Update the app with this drawing"], .dc-icon-button[aria-label="Edit"],
.dc-icon-button[aria-label="Reset canvas & history"], .dc-toolbar-separator, .dc-toolbar-contextual {
  display: none !important;
}
"""

# Adds the stylesheet to every drawable canvas under a key starting with CANVAS_KEY, now and whenever
# one appears (Clear mounts a new canvas; its shadow root is attached a moment after its element).
# Installed once per browser tab: the page's later runs find it there.
_FIX_JS = """
(() => {
  if (window.__resnetMnistCanvasToolbar) return;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(__CSS__);
  let retry = null;
  const apply = () => {
    let pending = false;
    for (const host of document.querySelectorAll(__HOSTS__)) {
      const root = host.shadowRoot;
      if (!root) { pending = true; continue; }
      if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
    }
    if (pending && retry === null) retry = setTimeout(() => { retry = null; apply(); }, 50);
  };
  new MutationObserver(apply).observe(document.body, { childList: true, subtree: true });
  window.__resnetMnistCanvasToolbar = true;
  apply();
})();
"""
_HOSTS = f'[class*="st-key-{CANVAS_KEY}_"] [data-testid="stBidiComponentIsolated"]'


def _toolbar_fix() -> None:
    """The script above, in a container hidden by a style-only st.html (which itself takes no room)."""
    script = _FIX_JS.replace("__CSS__", json.dumps(TOOLBAR_CSS)).replace("__HOSTS__", json.dumps(_HOSTS))
    st.html(f"<style>.st-key-{_FIX_KEY} {{ display: none; }}</style>")
    with st.container(key=_FIX_KEY):
        st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def drawing_canvas(size: int, stroke_width: int, version: int) -> CanvasResult:
    """The square canvas (white ink on black, every stroke sent at once), its Undo/Redo below it."""
    canvas = st_canvas(
        stroke_width=stroke_width,
        stroke_color=palette.CANVAS_INK,
        background_color=palette.CANVAS_BACKGROUND,
        update_streamlit=True,
        height=size,
        width=size,
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"{CANVAS_KEY}_{version}",
    )
    _toolbar_fix()
    return canvas
