"""The fuzz tests' kit: an oracle of the server's answers, frames to try, and a live server.

Hypothesis throws thousands of malformed frames at ONE live server (module-scoped
``ServerThread``): broken and non-strict JSON, every field with every wrong type, huge numbers,
deep nesting, invalid UTF-8, binary frames, control characters, frames at the 64 KiB bound,
names at every length boundary, commands with missing arguments, refs of 64 and 65 characters,
history limits around 1 and 200, logins out of order (a send before the login, a second login),
resends of refs the server already took, and the v3 frames: ``read`` with ids of the log (the
canaries' private messages included), malformed or absent ids, and ``typing`` with every kind of
``to``.

Every frame is checked against an *oracle* written here from PROTOCOL.md and docs/decisions.md
(it does not import the server's parser): the right error code (when a frame breaks several
rules at once, any of their codes), the ``ref`` on the answer, the right close code, or the
right stored message. After each frame:

- the server still serves: a *canary* pair of users, connected from the start, exchange a
  private message, and at the end each canary has received exactly the log entries visible to
  it, once each, in log order (so a rejected frame delivered nothing to anyone);
- nothing rejected was stored: the log's head is exactly the model's, which grows only by the
  sends the oracle accepted; at the end the whole log is compared entry by entry;
- after any closed connection ``/healthz`` answers, and at the end a fresh login works.

The server runs with ``rate_limit=0`` and very high failed-login limits: those limits are
tested on their own (tests/server/test_login.py, tests/server/test_security.py); here they would only turn
the oracle's answers into ``rate_limited``.

The tests are tests/server/test_fuzz_live.py (any frame from a logged-in session),
test_fuzz_login.py (any first frame) and test_fuzz_cases.py (the frames the issue names); the
``fuzz_ctx`` fixture (tests/server/conftest.py) gives each test module one live server.
Modules: :mod:`fuzzkit.oracle` (what the server must answer, from PROTOCOL.md alone),
:mod:`fuzzkit.frames` (Hypothesis strategies of frames) and :mod:`fuzzkit.session` (the live
server, its canaries, and playing and checking one frame).
"""
