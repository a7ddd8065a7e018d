"""Notebook 04_por_dentro: it runs top to bottom offline, and what its cells leave behind holds.

Each ``check_*`` function runs in the notebook's kernel after the notebook (tests/nbkit.py):
its parameters name the notebook's variables. The notebook shows one or two checks per
section, the ones that state the lesson; every other invariant of what it ran is here.
"""

from __future__ import annotations

from typing import Any

from nbkit import Run

NOTEBOOK = "04_por_dentro"


def test_runs_without_errors(notebook_run: Run) -> None:
    assert notebook_run.errors() == []


def test_check(notebook_run: Run, check: Any) -> None:
    notebook_run.assert_held(check)


def test_no_log_line_reaches_the_reader(notebook_run: Run) -> None:
    """Nothing the notebook runs writes to stderr: a reader never sees an English log line."""
    streams = [
        out.get("text", "")
        for cell in notebook_run.notebook.cells
        if cell.cell_type == "code" and not cell.metadata.get("wschat_check")
        for out in cell.outputs
        if out.output_type == "stream" and out.get("name") == "stderr"
    ]
    assert streams == []


# ------------------------------------------------------------------ the opening and section 1


def check_only_the_sending_tab_got_the_ref(screens: Any) -> None:
    first = [s.messages()[0] for s in screens]  # ana (aba 1), ana (aba 2), joao, bob
    assert {m.text for m in first} == {"oi a todos"} and len({m.id for m in first}) == 1
    assert first[0].ref is not None and first[0].ref.startswith("c-")
    assert all(m.ref is None for m in first[1:])


def check_the_private_reached_the_two_users_and_nobody_else(
    ana1: Any, ana2: Any, joao: Any, bob: Any
) -> None:
    private = [m for m in ana1.messages() if m.to == "joao"]
    assert [m.text for m in private] == ["quando voltar, me responde"]
    for screen in (ana2, joao):
        assert [m.id for m in screen.messages() if m.to == "joao"] == [private[0].id]
    assert all(m.to is None for m in bob.messages())  # the Bob never got a private


def check_joao_resumed_and_got_exactly_what_he_missed(
    joao: Any, joao_before: Any, replayed: Any, read: Any
) -> None:
    from wschat import Disconnected, Reconnected

    assert [m.text for m in replayed] == ["o joao caiu?", "quando voltar, me responde"]
    assert [m.id for m in replayed] == [e.id for e in read]
    assert all(joao.how[m.id] == "replay" for m in replayed)
    dropped = [e for e in joao.events if isinstance(e, Disconnected)]
    back = [e for e in joao.events if isinstance(e, Reconnected)]
    assert [e.code for e in dropped] == [1006] and len(back) == 1
    assert back[0].welcome.recovered is True and back[0].welcome.last == replayed[-1].id
    # Everything stored while he was away came in the replay, nothing else.
    assert int(replayed[0].id) == int(joao_before) + 1


# ------------------------------------------------------------------ section 2: routing


def check_routing_is_the_pure_function_the_text_says(
    online: Any, opened: Any, to_all: Any, to_joao: Any
) -> None:
    from wschat.core import routing

    assert opened == [True, True, True, False]  # only a user's first session opens them
    assert routing.targets(to_all, online) == ["bob", "joao", "ana#1", "ana#2"]
    assert sorted(routing.targets(to_joao, online)) == ["ana#1", "ana#2", "joao"]
    assert online.close("ana#2") is False  # one tab of two: nothing to announce
    assert online.close("ana#1") is True  # the last one: now Ana is offline


# ------------------------------------------------------------------ section 3: the seam


def check_the_toy_model_loses_and_doubles(join: Any) -> None:
    assert join(["lê o log", "m2 chega", "registra"]) == ["m1"]
    assert join(["registra", "m2 chega", "lê o log"]) == ["m2", "m1", "m2"]
    assert join(["m2 chega", "lê o log", "registra"]) == ["m1", "m2"]


def check_the_seam_hook_fired_inside_danis_login(injector: Any, dani: Any) -> None:
    assert injector.fired == ["registered", "log_read"]
    texts = [m.text for m in dani.messages()]
    assert texts == ["antes", "registered 1", "registered 2", "log_read 1", "log_read 2", "depois"]
    # Each once, in log order: the history up to welcome.last, then live.
    assert [dani.how[m.id] for m in dani.messages()] == ["histórico"] * 3 + ["ao vivo"] * 3
    assert dani.client.welcome.last == dani.messages()[2].id
    ids = [int(m.id) for m in dani.messages()]
    assert ids == sorted(set(ids))


# ------------------------------------------------------------------ section 4: max_replay


def check_more_missing_than_max_replay_gets_history(small: Any, eva: Any, back: Any) -> None:
    from wschat import Disconnected, Message, Reconnected

    assert small.config.max_replay == 1
    assert isinstance(back[0], Disconnected) and back[0].code == 1006
    assert isinstance(back[1], Reconnected) and back[1].welcome.recovered is False
    messages = [e for e in back[2:] if isinstance(e, Message)]
    assert [m.text for m in messages] == ["antes", "um", "dois"]  # history, not a replay
    assert all(eva.how[m.id] == "histórico" for m in messages)
    assert [m.text for m in eva.messages()].count("antes") == 2  # the history repeated it


def check_the_default_replay_bound_is_the_documented_one(server: Any) -> None:
    assert server.chat.config.max_replay == 10_000


# ------------------------------------------------------------------ section 5: ref


def check_without_ref_the_resend_is_stored_twice(no_ref: Any, bob_saw: Any, final_log: Any) -> None:
    twice = [m for m in bob_saw if m.text == "chegou?"]
    assert len(twice) == 2 and twice[0].id != twice[1].id
    assert no_ref["id"] == twice[1].id and "ref" not in no_ref  # a new message, no ref asked
    assert [e.text for e in final_log].count("chegou?") == 2


def check_with_ref_the_resend_is_answered_with_the_original(
    with_ref: Any, bob_saw: Any, final_log: Any
) -> None:
    from wschat.store import REF_WINDOW

    assert REF_WINDOW == 600  # the "10 minutos" of the text
    once = [m for m in bob_saw if m.text == "e agora, chegou?"]
    assert len(once) == 1 and once[0].ref is None
    assert (with_ref["id"], with_ref["text"], with_ref["ref"]) == (once[0].id, once[0].text,
                                                                   "pedido-43")
    assert [e.text for e in final_log].count("e agora, chegou?") == 1  # stored once


def check_anas_other_tabs_got_the_resent_message_once_and_without_ref(
    ana1: Any, ana2: Any
) -> None:
    for screen in (ana1, ana2):
        got = [m for m in screen.messages() if m.text == "e agora, chegou?"]
        assert len(got) == 1 and got[0].ref is None and screen.how[got[0].id] == "ao vivo"
    assert all(m.ref is None for m in ana2.messages())  # the tab 2 never sent anything


# ------------------------------------------------------------------ section 6: guarantees


def check_every_screen_got_each_id_once_in_log_order(screens: Any, phone: Any) -> None:
    for screen in (*screens, phone):
        ids = [int(m.id) for m in screen.messages()]
        assert ids == sorted(set(ids)), (screen.name, ids)


def check_every_id_a_screen_received_is_in_the_log(screens: Any, phone: Any,
                                                   final_log: Any) -> None:
    logged = {e.id: e for e in final_log}
    for screen in (*screens, phone):
        for message in screen.messages():
            assert message.id in logged, (screen.name, message)
            assert logged[message.id].text == message.text


# ------------------------------------------------------------------ section 7: durable or not


def check_typing_came_before_the_message_and_the_read_reached_both_tabs(
    ana1: Any, ana2: Any, question: Any
) -> None:
    from wschat import Message, Read, TypingNotice

    assert question.text == "alguém viu o relatório?" and question.sender == "joao"
    for screen in (ana1, ana2):
        at = next(i for i, e in enumerate(screen.events)
                  if isinstance(e, Message) and e.id == question.id)
        assert screen.events[at - 1] == TypingNotice("joao")
        assert Read(question.id) in screen.events[at:]
        assert screen.client.read == question.id


def check_the_tab_that_was_away_got_the_messages_but_not_the_typing(
    live: Any, replay: Any, question: Any
) -> None:
    from wschat import Disconnected, Message, Reconnected, TypingNotice

    bobs = live[1:]
    assert live[0] == TypingNotice("bob")
    assert [m.text for m in bobs] == ["eu vi", "está na pasta do projeto"]
    assert [type(e) for e in replay] == [Disconnected, Reconnected, Message, Message]
    assert replay[2:] == bobs
    welcome = replay[1].welcome
    assert welcome.recovered is True and welcome.read == question.id
    # Presence is not replayed either: the welcome lists who is online now.
    assert {"joao", "bob"} <= set(welcome.online)


def check_a_new_device_gets_the_read_position_and_the_unread_count(
    phone: Any, history: Any, live: Any, question: Any, server: Any
) -> None:
    assert server.chat.config.history == 3  # "um login novo recebe as 3 últimas"
    bobs = live[1:]
    welcome = phone.client.welcome
    assert welcome.read == question.id and welcome.unread == 2 and phone.client.unread == 2
    assert history == [question, *bobs]  # the history: messages only


def check_typing_got_no_id_and_no_entry(final_log: Any, live: Any, question: Any) -> None:
    bobs = live[1:]
    last_three = final_log[-3:]
    assert [e.id for e in last_three] == [question.id, *(m.id for m in bobs)]
    assert [int(e.id) for e in last_three] == list(range(int(question.id), int(question.id) + 3))


def check_presence_flickered_for_bob(bob: Any) -> None:
    from wschat import Presence
    from wschat.teaching.chatdemo import presences

    about_joao = [p for p in presences(bob) if p.user == "joao"]
    assert about_joao == [Presence("joao", True), Presence("joao", False), Presence("joao", True)]


# ------------------------------------------------------------------ section 8: limits


def check_the_send_limit_counts_every_tab_of_the_user(
    limited: Any, stored: Any, refused: Any
) -> None:
    assert (limited.config.rate_limit, limited.config.burst) == (0.1, 4)
    assert len(stored) == 4  # the burst, shared by both tabs
    assert [code for _, code, _ in refused] == ["rate_limited", "rate_limited"]
    assert all(detail == "mensagens demais por segundo; espere um pouco" for *_, detail in refused)
    assert all(text.startswith(("aba 1, envio", "aba 2, envio")) for text in stored)


def check_failed_logins_are_limited_but_a_token_gets_in(codes: Any, tab3: Any) -> None:
    assert codes[-1] == "rate_limited" and codes.count("auth_failed") == 10
    assert len(codes) == 11
    assert tab3.client.welcome.user == "ana"


# ------------------------------------------------------------------ section 9: security


def check_what_origin_each_python_client_sends(seen: Any) -> None:
    assert len(seen) == 2
    assert seen[0] is None  # websockets: no Origin unless origin= is given
    assert seen[1].startswith("http://127.0.0.1:")  # websocket-client: http:// + host:port
    assert seen[1].rsplit(":", 1)[1].isdigit()


def check_the_server_refuses_a_foreign_origin_and_a_frame_before_login(
    status: Any, refused_login: Any, close_code: Any
) -> None:
    assert status == 403
    assert refused_login["type"] == "error" and refused_login["code"] == "login_required"
    assert close_code == 4001


# ------------------------------------------------------------------ the end


def check_everything_was_stopped(server: Any, seam_server: Any, small: Any, limited: Any) -> None:
    assert not any(s.running for s in (server, seam_server, small, limited))


def check_the_exercise_placeholders_get_a_hint() -> None:
    from wschat.teaching.exercises.internals import verificar_buffer_sem_pular, verificar_reenvio

    for checker in (verificar_reenvio, verificar_buffer_sem_pular):
        verdict = checker(None)
        assert not verdict and "None" in verdict.message
