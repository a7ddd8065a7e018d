"""The pure core: the chat's rules with no I/O (no asyncio, sockets, databases or threads).

Names and the log's entries (:mod:`~wschat.core.names`, :mod:`~wschat.core.model`); client
frames in (:mod:`~wschat.core.requests`, :mod:`~wschat.core.commands`,
:mod:`~wschat.core.parsing`) and server frames out (:mod:`~wschat.core.frames`); who gets what
(:mod:`~wschat.core.routing`) and fan-out's pure half (:mod:`~wschat.core.fanout`); rate limits,
credentials, URLs, the RFC 6455 codec (:mod:`~wschat.core.wire`); the codes, the exception root
and every default (:mod:`~wschat.core.errors`, :mod:`~wschat.core.defaults`).
A test checks that nothing here imports I/O.
"""
