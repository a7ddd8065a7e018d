"""wschat.core.routing: presence transitions and who gets each entry."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wschat.core.model import Entry
from wschat.core.names import name_key
from wschat.core.routing import Roster, read_targets, targets, typing_targets


def public(sender: str) -> Entry:
    return Entry("1", sender, None, "oi", 0.0)


def private(sender: str, to: str) -> Entry:
    return Entry("1", sender, to, "oi", 0.0)


def test_tabs_open_and_close() -> None:
    presence: Roster[str] = Roster()
    assert presence.open("joao", "tab-1") is True  # first tab: joao is now online
    assert presence.open("joao", "tab-2") is False  # second tab: nothing new
    assert presence.close("tab-1") is False  # one of two closed: still online
    assert presence.online() == ["joao"]
    assert presence.close("tab-2") is True  # the last one: now offline
    assert presence.online() == []


def test_unknown_or_repeated_close_is_false() -> None:
    presence: Roster[str] = Roster()
    assert presence.close("nope") is False
    presence.open("ana", "s1")
    assert presence.close("s1") is True
    assert presence.close("s1") is False


def test_a_session_opens_once() -> None:
    presence: Roster[str] = Roster()
    presence.open("ana", "s1")
    with pytest.raises(ValueError, match="already open"):
        presence.open("ana", "s1")
    with pytest.raises(ValueError, match="already open"):
        presence.open("joao", "s1")
    assert list(presence.sessions_of("ana")) == ["s1"]
    assert list(presence.sessions_of("joao")) == []


def test_names_are_case_insensitive_and_keep_the_first_spelling() -> None:
    presence: Roster[int] = Roster()
    assert presence.open("Joao", 1) is True
    assert presence.open("JOAO", 2) is False
    assert presence.online() == ["Joao"]
    assert set(presence.sessions_of("joao")) == {1, 2}


def test_lookups() -> None:
    presence: Roster[str] = Roster()
    presence.open("bia", "b1")
    presence.open("Ana", "a1")
    presence.open("carlos", "c1")
    presence.open("ana", "a2")
    assert presence.online() == ["Ana", "bia", "carlos"]  # case-insensitive order
    assert list(presence.sessions_of("ana")) == ["a1", "a2"]
    assert list(presence.sessions_of("nobody")) == []
    assert set(presence.all_sessions()) == {"a1", "a2", "b1", "c1"}
    assert sorted(presence.others("ana")) == ["b1", "c1"]
    assert sorted(presence.others("nobody")) == ["a1", "a2", "b1", "c1"]
    assert len(presence) == 4


def test_online_is_a_copy() -> None:
    presence: Roster[str] = Roster()
    presence.open("ana", "a1")
    names = presence.online()
    names.append("intruder")
    assert presence.online() == ["ana"]


def test_targets_public_private_and_self() -> None:
    presence: Roster[str] = Roster()
    for user, session in [("ana", "a1"), ("ana", "a2"), ("joao", "j1"), ("bia", "b1")]:
        presence.open(user, session)
    assert sorted(targets(public("ana"), presence)) == ["a1", "a2", "b1", "j1"]
    assert sorted(targets(private("ana", "joao"), presence)) == ["a1", "a2", "j1"]
    assert sorted(targets(private("Ana", "JOAO"), presence)) == ["a1", "a2", "j1"]
    assert sorted(targets(private("ana", "ana"), presence)) == ["a1", "a2"]  # once each
    assert sorted(targets(private("ana", "carlos"), presence)) == ["a1", "a2"]  # offline
    assert targets(private("zed", "carlos"), presence) == []


def test_typing_targets_public_private_and_self() -> None:
    roster: Roster[str] = Roster()
    for user, session in [("ana", "a1"), ("ana", "a2"), ("bob", "b1"), ("Cid", "c1")]:
        roster.open(user, session)
    assert sorted(typing_targets("ana", None, roster)) == ["b1", "c1"]  # never ana's own
    assert typing_targets("ANA", "cid", roster) == ["c1"]  # the recipient's alone
    assert typing_targets("ana", "Ana", roster) == []  # to oneself: nobody
    assert typing_targets("ana", "dan", roster) == []  # recipient offline
    assert sorted(read_targets("Ana", roster)) == ["a1", "a2"]  # every session of the user
    assert read_targets("dan", roster) == []


def test_targets_is_a_snapshot() -> None:
    presence: Roster[str] = Roster()
    presence.open("ana", "a1")
    result = targets(public("ana"), presence)
    presence.open("bia", "b1")  # a session opening while a fan-out iterates
    presence.close("a1")
    assert result == ["a1"]


# --------------------------------------------------------------------------- properties

USERS = ["ana", "Ana", "BIA", "bia", "joao", "x.y-z_1"]


@given(
    st.lists(st.tuples(st.sampled_from(USERS), st.booleans()), max_size=40),
    st.sampled_from([*USERS, "ghost"]),
    st.none() | st.sampled_from([*USERS, "ghost"]),
)
def test_targets_are_exactly_the_sessions_allowed_to_see(
    script: list[tuple[str, bool]], sender: str, to: str | None
) -> None:
    # Open a session per step; some are closed again afterwards.
    presence: Roster[int] = Roster()
    users_of: dict[int, str] = {}
    for session, (user, _keep) in enumerate(script):
        presence.open(user, session)
        users_of[session] = user
    for session, (_, keep) in enumerate(script):
        if not keep:
            presence.close(session)
            del users_of[session]
    entry = Entry("7", sender, to, "oi", 0.0)
    got = targets(entry, presence)
    assert all(count == 1 for count in Counter(got).values())
    expected = {s for s, user in users_of.items() if entry.visible_to(name_key(user))}
    assert set(got) == expected


class PresenceMachine(RuleBasedStateMachine):
    """Roster against a plain model: a dict of open session -> user key."""

    def __init__(self) -> None:
        super().__init__()
        self.presence: Roster[int] = Roster()
        self.model: dict[int, str] = {}
        self.spelling: dict[str, str] = {}  # key -> display name of the first open session
        self.next_session = 0

    def online_keys(self) -> set[str]:
        return set(self.model.values())

    @rule(user=st.sampled_from(USERS))
    def open(self, user: str) -> None:
        key = name_key(user)
        was_online = key in self.online_keys()
        session = self.next_session
        self.next_session += 1
        assert self.presence.open(user, session) is (not was_online)
        self.model[session] = key
        self.spelling.setdefault(key, user)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        session = data.draw(st.sampled_from(sorted(self.model)))
        key = self.model.pop(session)
        last = key not in self.online_keys()
        assert self.presence.close(session) is last
        if last:
            del self.spelling[key]

    @rule(session=st.integers(-5, -1))
    def close_unknown(self, session: int) -> None:
        assert self.presence.close(session) is False

    @invariant()
    def agrees_with_model(self) -> None:
        keys = self.online_keys()
        assert self.presence.online() == [self.spelling[k] for k in sorted(keys)]
        assert set(self.presence.all_sessions()) == set(self.model)
        for key in {name_key(u) for u in USERS}:
            mine = {s for s, k in self.model.items() if k == key}
            assert set(self.presence.sessions_of(key)) == mine
            others = self.presence.others(key)
            assert sorted(others) == sorted(set(self.model) - mine)


TestPresenceMachine = PresenceMachine.TestCase
