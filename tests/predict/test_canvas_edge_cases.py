"""A filled canvas, in any colours, gets no prediction and no error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import (
    canvas_value,
    open_app,
)

FILLED_CANVASES = {
    "rgba white strokes everywhere": np.full((280, 280, 4), 255, np.uint8),
    "rgb white strokes everywhere": np.full((280, 280, 3), 255, np.uint8),
    "rgba black everywhere": np.dstack([np.zeros((280, 280, 3), np.uint8), np.full((280, 280), 255, np.uint8)]),
    "rgba white, one pixel clear": np.pad(np.full((279, 280, 4), 255, np.uint8), ((0, 1), (0, 0), (0, 0))),
}


def test_a_filled_canvas_gets_no_prediction_and_no_error(app_sessions: None, draw_runs: Path) -> None:
    at = open_app("pages/draw.py")
    assert len(at.get("bidi_component")) == 1
    for name, image in FILLED_CANVASES.items():
        at.session_state[f"draw_canvas_{at.session_state['draw_canvas_version']}"] = canvas_value(image)
        at.run()
        assert not at.exception, f"{name}: {at.exception}"
        assert not any("% sure" in m.value for m in at.markdown), f"{name} was given a digit"
        assert any("Draw a digit" in i.value for i in at.info), name
