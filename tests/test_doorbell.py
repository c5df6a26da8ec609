"""An idle runner naps until it is rung (gateway/service/doorbell.py), and a ring, or a
flood of them, never makes it look more often than it used to poll.

The daemon-level behaviour (a letter sent to a gateway idle for longer than MAX_NAP is
registered and filed at once; an item retried by `outbox retry` goes out) is what every
daemon test after an idle moment exercises; these check the bell itself."""
from __future__ import annotations

import socket
import threading
import time

from gateway.config.settings import load_settings
from gateway.pipeline.runner import rest_after_an_empty_look
from gateway.service.doorbell import DELIVERY_BELL, MAX_NAP, Doorbell, address, pipeline_bell, ring, ring_pipelines
from gateway.spool import open_spool
from storage import outbox
from tests.daemon import write_config


def _napping(bell: Doorbell, seconds: float, floor: float = 0.01) -> tuple[threading.Thread, list[float]]:
    took: list[float] = []

    def nap() -> None:
        started = time.monotonic()
        bell.nap(seen, seconds, floor)
        took.append(time.monotonic() - started)

    bell.nap(bell.rings, 0, 0)  # bound and listening before the ring
    # Read here, as a runner reads it before it looks for work: a ring that comes before
    # the thread lies down (a loaded machine) still ends its nap.
    seen = bell.rings
    thread = threading.Thread(target=nap)
    thread.start()
    time.sleep(0.2)
    return thread, took


def test_a_ring_wakes_every_napping_thread_of_that_data_directory_only(tmp_path):
    bell = Doorbell(tmp_path / "a", "delivery")
    other = Doorbell(tmp_path / "b", "delivery")
    try:
        first, took_first = _napping(bell, 30)
        second, took_second = _napping(bell, 30)
        elsewhere, took_elsewhere = _napping(other, 1.5)
        ring(tmp_path / "a", "delivery")
        first.join(10)
        second.join(10)
        assert took_first and took_first[0] < 10 and took_second and took_second[0] < 10
        elsewhere.join(10)
        assert took_elsewhere[0] >= 1.4  # another gateway's bell rang, not this one's
    finally:
        bell.close()
        other.close()


def test_a_ring_before_the_nap_is_not_slept_through(tmp_path):
    bell = Doorbell(tmp_path, "pipeline-0")
    try:
        bell.nap(bell.rings, 0, 0)
        seen = bell.rings  # the runner looked: nothing to do
        ring(tmp_path, "pipeline-0")  # a letter came in before it lay down
        time.sleep(0.2)
        started = time.monotonic()
        bell.nap(seen, 30, 0.01)
        assert time.monotonic() - started < 10
    finally:
        bell.close()


def test_every_pipeline_runner_is_rung(tmp_path):
    bells = [Doorbell(tmp_path, pipeline_bell(i)) for i in range(3)]
    try:
        for bell in bells:
            bell.nap(bell.rings, 0, 0)
        before = [bell.rings for bell in bells]
        ring_pipelines(tmp_path, 3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(b.rings == r for b, r in zip(bells, before)):
            time.sleep(0.02)
        assert all(b.rings > r for b, r in zip(bells, before))
    finally:
        for bell in bells:
            bell.close()


def test_a_flood_of_rings_costs_no_more_looks_than_polling(tmp_path):
    bell = Doorbell(tmp_path, "delivery")
    floor = 0.1
    flooding = threading.Event()

    def flood() -> None:
        while not flooding.is_set():
            ring(tmp_path, "delivery")

    try:
        bell.nap(bell.rings, 0, 0)
        thread = threading.Thread(target=flood)
        thread.start()
        looks = 0
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            bell.nap(bell.rings, MAX_NAP, floor)
            looks += 1
        flooding.set()
        thread.join(10)
        assert looks <= 1.0 / floor + 2  # main: a look per ring, thousands a second
    finally:
        bell.close()


def test_stopping_wakes_a_long_nap_and_a_closed_bell_rings_nobody(tmp_path):
    bell = Doorbell(tmp_path, "delivery")
    thread, took = _napping(bell, 30)
    bell.wake()  # what StopFlag does on SIGTERM
    thread.join(10)
    assert took and took[0] < 10
    bell.close()
    ring(tmp_path, "delivery")  # nobody listening: no error, no wait
    again = Doorbell(tmp_path, "delivery")  # the name is free for the next runner
    try:
        again.nap(again.rings, 0, 0)
        before = again.rings
        ring(tmp_path, "delivery")
        deadline = time.monotonic() + 10
        while again.rings == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert again.rings > before
    finally:
        again.close()


def _rung(bell: Doorbell, before: int) -> bool:
    deadline = time.monotonic() + 10
    while bell.rings == before and time.monotonic() < deadline:
        time.sleep(0.02)
    return bell.rings > before


def test_a_letter_spooled_rings_every_pipeline_runner_and_an_outbox_item_the_delivery_runner(tmp_path):
    """The wiring every writer gets: the spool of open_spool(settings), the database of
    settings.open_database(). (main: each runner polled; nothing rang.)"""
    settings = load_settings(write_config(tmp_path, workers=2))
    pipelines = [Doorbell(settings.data_dir, pipeline_bell(i)) for i in range(2)]
    delivery = Doorbell(settings.data_dir, DELIVERY_BELL)
    bells = [*pipelines, delivery]
    db = settings.open_database()
    try:
        db.create_schema()
        for bell in bells:
            bell.nap(bell.rings, 0, 0)
        before = [bell.rings for bell in bells]
        open_spool(settings).accept(b"Subject: x\r\n\r\nx\r\n", "saraban.dds@bangkok.go.th",
                                    ["saraban.latkrabang@bangkok.go.th"])
        assert all(_rung(bell, seen) for bell, seen in zip(pipelines, before))
        with db.session() as session:  # only reads: rings nobody
            outbox.items_in_state(session, "pending")
        assert delivery.rings == before[-1]
        with db.session() as session:
            outbox.queue_once(session, "alert", "test:central:q1:saraban.latkrabang", queue_id="q1",
                              unit="saraban.latkrabang", payload={"to": "central", "reason": "test"})
        assert _rung(delivery, before[-1])
    finally:
        db.dispose()
        for bell in bells:
            bell.close()


def test_a_name_another_process_holds_leaves_the_runner_polling_not_asleep(tmp_path):
    """Anyone on the host may bind the bell's name first (an abstract socket has no file
    mode to stop them), or the runner being replaced still holds it: the runner's naps
    are then as short as the old polling, never MAX_NAP; once the name is free it listens."""
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    squatter.bind(address(tmp_path, DELIVERY_BELL))
    bell = Doorbell(tmp_path, DELIVERY_BELL)
    try:
        started = time.monotonic()
        for _ in range(5):
            bell.nap(bell.rings, MAX_NAP, 0.05)
        assert time.monotonic() - started < MAX_NAP  # five polls, not five (or one) long naps
        ring(tmp_path, DELIVERY_BELL)  # goes to the squatter: the runner does not count on it
        assert squatter.recv(8) == b"!"
        squatter.close()
        thread, took = _napping(bell, 30)  # the name is free again: bound, and a ring wakes it
        ring(tmp_path, DELIVERY_BELL)
        thread.join(10)
        assert took and took[0] < 10
    finally:
        squatter.close()
        bell.close()


def test_a_runner_with_letters_it_cannot_take_waits_a_whole_poll_after_each_look_however_rung(tmp_path):
    """Under a backlog every letter that arrives rings both pipeline runners and the other
    one takes it: the runner that found nothing to take waits a whole poll after its look,
    as session 21 measured, not until a floor counted from its last nap (931ca75: a look
    as long as a poll was followed by the next at once, ~2 ms of CPU a 200 KiB letter)."""
    settings = load_settings(write_config(tmp_path))
    poll = settings.pipeline.poll_interval
    spool = open_spool(settings)
    spool.accept(b"Subject: x\r\n\r\nx\r\n", "saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"])
    bell = Doorbell(settings.data_dir, pipeline_bell(0))
    flooding = threading.Event()

    def flood() -> None:
        while not flooding.is_set():
            ring_pipelines(settings.data_dir, 1)
            time.sleep(0.001)

    thread = threading.Thread(target=flood)
    try:
        bell.nap(bell.rings, 0, 0)
        thread.start()
        for _ in range(5):
            seen = bell.rings
            time.sleep(poll)  # the look, as long as a poll on a big spool
            started = time.monotonic()
            assert rest_after_an_empty_look(spool, bell, seen, poll, poll) == poll
            assert time.monotonic() - started >= 0.9 * poll
    finally:
        flooding.set()
        if thread.is_alive():
            thread.join(10)
        bell.close()


def test_an_empty_spool_naps_until_rung_and_polls_when_its_bell_is_taken(tmp_path):
    """The other branch, and the squat again from the pipeline's side: an empty spool
    naps on the bell (a ring ends it long before the nap's length), longer each time;
    with its name held by another process the nap is a poll, not MAX_NAP."""
    settings = load_settings(write_config(tmp_path))
    poll = settings.pipeline.poll_interval
    spool = open_spool(settings)
    bell = Doorbell(settings.data_dir, pipeline_bell(0))
    try:
        bell.nap(bell.rings, 0, 0)
        seen = bell.rings
        ring_pipelines(settings.data_dir, 1)
        started = time.monotonic()
        assert rest_after_an_empty_look(spool, bell, seen, MAX_NAP, poll) == MAX_NAP
        assert time.monotonic() - started < MAX_NAP
    finally:
        bell.close()
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    squatter.bind(address(settings.data_dir, pipeline_bell(1)))
    taken = Doorbell(settings.data_dir, pipeline_bell(1))
    try:
        started = time.monotonic()
        for _ in range(3):
            rest_after_an_empty_look(spool, taken, taken.rings, MAX_NAP, poll)
        assert time.monotonic() - started < MAX_NAP  # three polls, not a long nap
    finally:
        squatter.close()
        taken.close()
