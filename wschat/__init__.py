"""wschat: learn WebSockets by working software.

The public API: a synchronous probe for any WebSocket server, an offline replica of the
internship test's server, and (with the chat issue) a chat server for logged-in users.
"""

from __future__ import annotations

from .offline import is_offline
from .probe import ProbeError, ProbeResult, probe
from .replica import GREETING, Replica

__all__ = ["GREETING", "ProbeError", "ProbeResult", "Replica", "is_offline", "probe"]
__version__ = "0.1.0"
