"""Where the sandbox keeps its run-time files (the throwaway CA and server certificate): the user's state folder,
never the working tree.

``platformdirs.user_state_path("leadrelay")`` when platformdirs is importable (it honours ``XDG_STATE_HOME`` on
Linux and uses each OS's own place elsewhere); without it, ``$XDG_STATE_HOME/leadrelay`` or
``~/.local/state/leadrelay`` as the XDG Base Directory specification lays out
(https://specifications.freedesktop.org/basedir-spec/latest/). platformdirs is not a declared dependency of
leadrelay (it arrives with zeep, through simple-salesforce), hence the fallback.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "leadrelay"


def state_dir() -> Path:
    """The user's state folder for leadrelay (not created here)."""
    try:
        from platformdirs import user_state_path
    except ImportError:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / APP
    return Path(user_state_path(APP, appauthor=False))


def default_tls_dir() -> Path:
    """Where ``leadrelay sandbox`` writes ``ca.pem`` and the server certificate unless told otherwise."""
    return state_dir() / "sandbox-tls"


__all__ = ["default_tls_dir", "state_dir"]
