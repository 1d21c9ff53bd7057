"""A dead letter's replay command, as the admin API and the console show it, is safe to paste into a shell: the id
(built from a sender's delivery id) is shell-quoted (issue 17: a webhook-id landed unquoted in it)."""

from __future__ import annotations

import shlex

import pytest

from leadrelay.api.admin.dead_letters import out
from worker.store import DeadLetter


@pytest.mark.parametrize("dl_id", ["delivery:form:msg_1", "delivery:typeform:$(touch /tmp/pwned)",
                                   "delivery:form:a b; rm -rf ~", "delivery:form:it's", "write:ld_1:17000"])
def test_the_replay_command_names_the_id_as_one_shell_word(dl_id: str) -> None:
    command = out(DeadLetter(id=dl_id, kind="delivery", reason="r", at=0.0)).replay_command
    assert shlex.split(command) == ["leadrelay", "dlq", "replay", dl_id]
    assert "$(" not in command or f"'{dl_id}'" in command  # no substitution outside single quotes
