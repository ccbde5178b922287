"""`pixelguard milter` reloads its config file on SIGHUP: a real Postfix (smtpd_milters) in
front of the real milter process, delivering to Dovecot over LMTP, the mail read back over
IMAP; and the milter protocol spoken directly, for a message whose MAIL FROM came before the
reload. Every wait polls a log or a mailbox, none sleeps for luck; only the SIGHUP storm
spaces its signals, and then watches the milter for as long as a stop by libmilter would take."""
from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest
from dovecot import listen_port
from milter_harness import ADDHDRS, CHGBODY, MTA, MilterProcess, accepts
from postfix import Postfix, require_postfix
from relay_harness import (
    TRACKER_URL,
    inbox,
    is_cleaned,
    message_id,
    swaks,
    tracker_message,
    wait_for,
)
from reload_support import NOT_RELOADED, RELOADED, ListFiles, cleaning_workers

pytestmark = pytest.mark.e2e

MILTER_PORT = listen_port()
BASE = "milter:\n  workers: 1\n"
BANNER = "http://127.0.0.1/banner/summer.png"


@pytest.fixture(scope="module")
def postfix(dovecot):
    require_postfix()
    # accept: were the milter down for a moment, mail would pass uncleaned, and the tests see it
    front = [f"smtpd_milters=inet:127.0.0.1:{MILTER_PORT}", "milter_default_action=accept",
             "milter_connect_timeout=3s", "milter_command_timeout=3s", "milter_content_timeout=10s"]
    server = Postfix(lmtp_port=dovecot.lmtp_port, fronts={"milter": front}).start()
    yield server
    server.stop()


@pytest.fixture
def milter(tmp_path):
    started: list[MilterProcess] = []

    def start(config: str = "") -> MilterProcess:
        m = MilterProcess(tmp_path, BASE + config, port=MILTER_PORT).start()
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()
        assert "Traceback" not in m.log_text(), m.log_text()


def deliver(postfix: Postfix, dovecot, user: str, raw: bytes, tmp_path) -> bytes:
    """`raw` sent through Postfix and the milter to `user`; the copy in their INBOX."""
    done = swaks(postfix.ports["milter"], "--from", "news@shop.example", "--to", user, data=raw, tmp=tmp_path)
    assert done.returncode == 0, done.stdout + postfix.log_tail()
    msgid = message_id(raw)
    (got,) = wait_for(lambda: [m for m in inbox(dovecot, user) if message_id(m) == msgid], 30, msgid)
    return got


def outcomes(m: MilterProcess) -> list[str]:
    return [line.split("outcome=")[1].split()[0] for line in m.message_lines()]


def allows_the_tracker(user: str) -> str:
    return f"users:\n  {user}:\n    allow: {{hosts: [127.0.0.1]}}\n"


def test_sighup_applies_a_changed_allow_entry_to_the_next_message_in_the_same_processes(
        postfix, dovecot, milter, tmp_path):
    alice = dovecot.new_user("alice")
    m = milter()
    pid, workers = m.proc.pid, cleaning_workers(m.proc.pid)
    assert len(workers) == 1
    assert is_cleaned(deliver(postfix, dovecot, alice, tracker_message("<a1@shop.example>", alice), tmp_path))

    m.write(BASE + allows_the_tracker(alice))
    line = m.sighup_and_wait_for(RELOADED)
    assert f"file={m.config}" in line and " INFO " in line
    kept = deliver(postfix, dovecot, alice, tracker_message("<a2@shop.example>", alice), tmp_path)
    assert TRACKER_URL.encode() in kept and b"X-PixelGuard" not in kept

    m.write(BASE)  # and back: the recipient's policy is made anew again
    m.sighup_and_wait_for(RELOADED)
    assert is_cleaned(deliver(postfix, dovecot, alice, tracker_message("<a3@shop.example>", alice), tmp_path))

    # the same milter process, listening all along, and the same cleaning worker
    assert m.proc.poll() is None and m.proc.pid == pid and accepts(m.port)
    assert cleaning_workers(pid) == workers
    assert "stopping" not in m.log_text()
    assert outcomes(m) == ["cleaned", "unchanged", "cleaned"]


def newsletter(msgid: str, to: str) -> bytes:
    """The tracker message with a large, visible banner (content, unless a tracker list names
    it) and a link (left as sent, unless a links list names its parameter)."""
    return tracker_message(msgid, to, extra=(
        f'<img src="{BANNER}" width="600" height="200" alt="Summer sale">\r\n'
        '<p><a href="https://shop.example/sale?pgref=nl7&amp;id=4">Shop</a></p>\r\n'))


def test_sighup_reads_edited_tracker_and_links_lists_again_in_the_same_worker(
        postfix, dovecot, milter, tmp_path):
    lists = ListFiles(tmp_path)
    alice = dovecot.new_user("alice")
    m = milter(lists.config)
    workers = cleaning_workers(m.proc.pid)

    before = deliver(postfix, dovecot, alice, newsletter("<l1@shop.example>", alice), tmp_path)
    assert b"X-PixelGuard: removed=1" in before and BANNER.encode() in before
    assert b"pgref=nl7" in before
    lists.edit()  # the same files, new contents: read anew, though the worker has them cached
    m.sighup_and_wait_for(RELOADED)
    after = deliver(postfix, dovecot, alice, newsletter("<l2@shop.example>", alice), tmp_path)
    assert b"X-PixelGuard: removed=2" in after and BANNER.encode() not in after
    assert b'href="https://shop.example/sale?id=4"' in after and b"pgref" not in after
    assert cleaning_workers(m.proc.pid) == workers


def test_messages_sent_while_it_reloads_again_and_again_are_all_delivered_cleaned(
        postfix, dovecot, milter, tmp_path):
    alice = dovecot.new_user("alice")
    # two configurations that both remove the tracker, swapped at each reload
    configs = [BASE, BASE + f"users:\n  {alice}:\n    deny: {{hosts: [ads.example]}}\n"]
    m = milter()
    pid, workers = m.proc.pid, cleaning_workers(m.proc.pid)
    count = 8
    msgids = [f"<burst{i}@shop.example>" for i in range(count)]
    codes: list[int] = []

    def send_all() -> None:
        for i, msgid in enumerate(msgids):
            sub = tmp_path / f"burst{i}"
            sub.mkdir()
            done = swaks(postfix.ports["milter"], "--from", "news@shop.example", "--to", alice,
                         data=tracker_message(msgid, alice), tmp=sub)
            codes.append(done.returncode)

    sender = threading.Thread(target=send_all)
    sender.start()
    reloads = 0
    try:
        while sender.is_alive():  # reload after reload, for as long as mail is being sent
            m.write(configs[(reloads + 1) % 2])
            m.sighup_and_wait_for(RELOADED)
            reloads += 1
    finally:
        sender.join(120)
    assert codes == [0] * count, postfix.log_tail()
    assert reloads >= 2
    got = wait_for(lambda: len(inbox(dovecot, alice)) >= count and inbox(dovecot, alice), 30, "every message")
    assert sorted(message_id(raw) for raw in got) == sorted(msgids)  # each once: none lost
    assert all(is_cleaned(raw) for raw in got)
    assert outcomes(m) == ["cleaned"] * count
    assert m.proc.pid == pid and m.proc.poll() is None and cleaning_workers(pid) == workers


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        # an unknown key on line 5: file:line and the dotted key
        ("users:\n  {user}:\n    allow: {{hostz: [127.0.0.1]}}\n", ":5: users.{user}.allow.hostz: unknown key 'hostz'"),
        # broken YAML on line 4
        ("users:\n  {user}: {{allow: [}}\n", ":4: YAML syntax error"),
    ],
    ids=["unknown-key", "bad-yaml"],
)
def test_an_invalid_config_on_sighup_is_one_error_line_and_the_old_config_stays(
        postfix, dovecot, milter, tmp_path, bad, where):
    alice = dovecot.new_user("alice")
    m = milter(allows_the_tracker(alice))  # distinguishable from the built-in defaults
    m.write(BASE + bad.format(user=alice))
    line = m.sighup_and_wait_for(NOT_RELOADED)
    assert " ERROR " in line and f'error="{m.config}{where.format(user=alice)}' in line, line
    log = m.log_text()
    assert len([ln for ln in log.splitlines() if " ERROR " in ln]) == 1, log
    assert RELOADED not in log
    kept = deliver(postfix, dovecot, alice, tracker_message("<bad1@shop.example>", alice), tmp_path)
    assert TRACKER_URL.encode() in kept and b"X-PixelGuard" not in kept  # still alice's allow


def test_sighup_names_each_changed_setting_that_needs_a_restart_and_applies_the_rest(
        postfix, dovecot, milter, tmp_path):
    alice = dovecot.new_user("alice")
    m = milter()
    workers = cleaning_workers(m.proc.pid)
    metrics = listen_port()
    m.write(f'milter:\n  workers: 2\n  max_size: 2000\n  metrics: "127.0.0.1:{metrics}"\n'
            f"  listen: inet:127.0.0.1:{listen_port()}\n")
    m.sighup_and_wait_for(RELOADED)
    warnings = [ln for ln in m.log_text().splitlines() if " WARNING " in ln]
    assert any('msg="milter.workers changed; restart pixelguard to apply" running=1 configured=2' in w
               for w in warnings), warnings
    assert any('msg="milter.metrics changed; restart pixelguard to apply"' in w for w in warnings), warnings
    # the file's listen is no change: --listen on the command line wins over it, as at start
    assert len(warnings) == 2, warnings
    assert cleaning_workers(m.proc.pid) == workers and not accepts(metrics)
    # max_size can change at run time: a message over the new limit passes unchanged, marked
    padding = ("<p>" + "x" * 70 + "</p>\r\n") * 40
    got = deliver(postfix, dovecot, alice, tracker_message("<big@shop.example>", alice, extra=padding), tmp_path)
    assert b"X-PixelGuard: error; message larger than max_size (2000 bytes)" in got
    assert outcomes(m) == ["oversize"]


def test_a_message_begun_before_sighup_finishes_with_its_config_and_the_connection_goes_on(tmp_path):
    """Spoken directly, with every step answered, so the MAIL FROM is known to be in before
    the reload: Postfix does not wait for an answer to it."""
    m = MilterProcess(tmp_path, BASE).start()
    try:
        mta = MTA(m.port)
        _granted, protocol = mta.negotiate(ADDHDRS | CHGBODY, offered=0x100000)
        mta.connect(protocol)
        mta.envelope(protocol)
        m.write(BASE + allows_the_tracker("alice@example.org"))
        m.sighup_and_wait_for(RELOADED)
        begun = mta.content(protocol, tracker_message("<inflight@shop.example>"))
        # the same connection's next message: the new configuration
        mta.envelope(protocol)
        following = mta.content(protocol, tracker_message("<next@shop.example>"))
        mta.close()
    finally:
        m.stop()
    assert begun[-1][0] == b"c" and following[-1][0] == b"c"
    (inserted,) = [d for c, d in begun if c == b"i"]
    assert inserted[4:].startswith(b"X-PixelGuard\x00 removed=1")
    assert TRACKER_URL.encode() not in b"".join(d for c, d in begun if c == b"b")
    assert [c for c, _ in following] == [b"c"]  # allowed now: no edit at all


def test_a_storm_of_sighups_reloads_it_and_at_worst_stops_it_cleanly(tmp_path):
    """The main thread takes the SIGHUPs (listener.py), but Linux may give one to libmilter's
    own signal thread, which takes it as "stop", when the main thread already has one pending
    and is not running: rare, and only in a burst like this one. Then the milter must stop as
    on SIGTERM (messages finished, exit 0; systemd's Restart=always starts it again), never
    die of the signal. A stop by libmilter takes effect within its 5 s listener poll, so the
    milter is watched for 6 s after the storm."""
    m = MilterProcess(tmp_path, BASE).start()
    proc = m.proc
    try:
        for i in range(2000):
            proc.send_signal(signal.SIGHUP)
            time.sleep((0, 0.00005, 0.0002, 0.001)[i % 4])  # signals at every spacing, not only coalesced
        try:
            code = proc.wait(6)
        except subprocess.TimeoutExpired:
            code = None  # still running: the usual outcome
        wait_for(lambda: RELOADED in m.log_text(), 10, "a reload")
        log = m.log_text()
        if code is None:
            assert "stopping" not in log and "shutting down" not in log, log
        else:
            assert code == 0 and "shutting down" in log and " stopped" in log, log
            assert "Traceback" not in log, log
    finally:
        m.stop()
