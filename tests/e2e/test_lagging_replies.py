"""Settings survive a server whose replies lag: the browser sends a widget's rerun before the last
rerun's answer came back (a busy machine, a slow network). Replies are held back on the websocket
itself, so the order is fixed, not left to timing."""

from __future__ import annotations

import re

from e2e.test_train import set_slider
from playwright.sync_api import expect


class HeldReplies:
    """The page's Streamlit websocket, with the server's messages held back on demand."""

    def __init__(self, page) -> None:
        self.sent = 0  # messages from the browser to the server
        self.held: list = []
        self.holding = False
        page.route_web_socket(re.compile(r"/_stcore/stream$"), self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()

        def to_server(message) -> None:
            self.sent += 1
            server.send(message)

        def to_page(message) -> None:
            if self.holding:
                self.held.append(message)
            else:
                ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)
        self._page_side = ws

    def release(self) -> None:
        """Deliver what was held, in order, and stop holding."""
        self.holding = False
        for message in self.held:
            self._page_side.send(message)
        self.held.clear()


def wait_for_sent(page, replies: HeldReplies, count: int, what: str) -> None:
    """Wait (at most 10 s) until the browser has sent `count` messages; Playwright runs the route meanwhile."""
    for _ in range(100):
        if replies.sent >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{what} sent no rerun to the server within 10 s")


def change_epochs_then_batch_before_any_reply(app, page, shot, change_epochs) -> None:
    """Hold the server's replies, change Epochs, move Batch size (its rerun still carries the Epochs
    box's old value), then let the replies through: the page must say 3 epochs, batch 8."""
    replies = HeldReplies(page)
    app.open("train")
    expect(page.get_by_role("slider", name="Epochs")).to_be_visible()
    replies.holding = True
    sent = replies.sent
    change_epochs()
    wait_for_sent(page, replies, sent + 1, "changing Epochs")
    set_slider(page, "Batch size", 0, "0")
    wait_for_sent(page, replies, sent + 2, "moving Batch size")
    replies.release()
    expect(page.get_by_text(re.compile(r"Start trains with 3 epochs · .*batch 8"))).to_be_visible()
    shot("after the replies came")
    expect(page.get_by_role("spinbutton", name="Epochs, typed")).to_have_value("3")
    expect(page.get_by_role("slider", name="Epochs")).to_have_value("3")


def test_a_slider_moved_before_the_reply_keeps_the_first_sliders_value(app, page, shot) -> None:
    change_epochs_then_batch_before_any_reply(app, page, shot, lambda: set_slider(page, "Epochs", 2, "3"))


def test_a_value_typed_before_the_reply_is_kept(app, page, shot) -> None:
    def type_three() -> None:
        box = page.get_by_role("spinbutton", name="Epochs, typed")
        box.fill("3")
        box.press("Enter")

    change_epochs_then_batch_before_any_reply(app, page, shot, type_three)
