"""Session 39: signing in again in a browser that still carried a session (the clerk
before at a shared counter, or a token someone saw) replaced its cookie but left the
session itself alive on the server until its hours ran out: whoever kept the old token
still had the desk."""
from __future__ import annotations

import pytest

from tests.web.client import Client, signed_in
from tests.web.conftest import running_desk


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"), ("malee", "clerk", "saraban.latkrabang"))
    with running_desk(tmp_path_factory.mktemp("desk"), users, ()) as desk:
        yield desk


def _copy(client: Client) -> Client:
    other = Client(f"http://{client.host}:{client.port}")
    other.cookies = dict(client.cookies)
    return other


def test_signing_in_again_ends_the_session_the_browser_carried(desk):
    counter = signed_in(desk.url, "somchai")
    kept = _copy(counter)  # somchai's token, as someone who saw it keeps it
    assert kept.get("/register").status == 200

    assert counter.sign_in("malee").status == 303  # the next clerk at the same browser
    assert counter.get("/register").status == 200

    answer = kept.get("/register")
    assert answer.status in (302, 303) and answer.header("location").endswith("/login"), answer.status
    [(sessions,)] = desk.db("SELECT count(*) FROM desk_sessions")
    assert sessions == 1


def test_a_refused_sign_in_leaves_the_carried_session_alone(desk):
    counter = signed_in(desk.url, "somchai")
    assert counter.sign_in("somchai", "not the password").status == 401
    assert counter.get("/register").status == 200  # a typo does not sign the clerk out
