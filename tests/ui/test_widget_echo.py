"""widget_echo on a plain dict standing for Streamlit's session state, driven the way Streamlit does:
a rerun sets the browser's widget values, calls the on_change of each changed one, then runs the page
(settle, then the widgets are drawn and the browser gets the session's values)."""

from __future__ import annotations

from resnet_mnist.ui import widget_echo

BOX, SLIDER = "train_epochs", "train_epochs_scale"


def slider_moved(state: dict) -> None:
    """The page's slider callback: the box takes the slider's value unless this is an echo."""
    if not widget_echo.is_echo(state, SLIDER):
        widget_echo.push(state, BOX, state[SLIDER])


def box_typed(state: dict) -> None:
    if not widget_echo.is_echo(state, BOX):
        widget_echo.push(state, SLIDER, state[BOX])


CALLBACKS = {SLIDER: slider_moved, BOX: box_typed}


def rerun(state: dict, browser: dict) -> None:
    """One rerun carrying the browser's widget values: callbacks for the changed ones, then the page's settle."""
    changed = [key for key, value in browser.items() if state.get(key) != value]
    state.update(browser)
    for key in changed:
        CALLBACKS[key](state)
    widget_echo.settle(state)


def test_a_lagging_box_value_does_not_move_the_slider_back() -> None:
    state = {BOX: 10, SLIDER: 10}
    rerun(state, {BOX: 10, SLIDER: 3})  # the slider moved to 3: the server pushes 3 into the box
    assert state[BOX] == 3
    rerun(state, {BOX: 10, SLIDER: 3})  # the next rerun left before that answer came: the box still says 10
    assert (state[BOX], state[SLIDER]) == (3, 3)


def test_a_lagging_slider_value_does_not_undo_a_typed_value() -> None:
    state = {BOX: 10, SLIDER: 10}
    rerun(state, {BOX: 250, SLIDER: 10})
    assert state[SLIDER] == 250
    rerun(state, {BOX: 250, SLIDER: 10})
    assert (state[BOX], state[SLIDER]) == (250, 250)


def test_once_the_browser_has_the_pushed_value_the_old_value_is_a_persons_choice_again() -> None:
    state = {BOX: 10, SLIDER: 10}
    rerun(state, {BOX: 10, SLIDER: 3})
    rerun(state, {BOX: 3, SLIDER: 3})  # the answer arrived
    rerun(state, {BOX: 10, SLIDER: 3})  # the person types 10 back
    assert (state[BOX], state[SLIDER]) == (10, 10)


def test_a_new_value_while_a_push_is_on_its_way_is_a_persons_change() -> None:
    state = {BOX: 10, SLIDER: 10}
    rerun(state, {BOX: 10, SLIDER: 3})
    rerun(state, {BOX: 7, SLIDER: 3})  # typed before the 3 arrived: a value the server never held
    assert (state[BOX], state[SLIDER]) == (7, 7)


def test_every_value_a_quick_drag_passed_is_an_echo() -> None:
    state = {BOX: 10, SLIDER: 10}
    for position in (9, 8, 7):
        rerun(state, {BOX: 10, SLIDER: position})  # dragged; no answer has arrived
    rerun(state, {BOX: 9, SLIDER: 7})  # the first answer arrives only now, with another rerun
    assert (state[BOX], state[SLIDER]) == (7, 7)
