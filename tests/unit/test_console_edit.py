"""The console's pure pieces: password hashes, signed sessions, and the editors' document changes and YAML."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from connector.config import config_from_texts, read_files
from connector.errors import SettingsError
from leadrelay.console.edit import EditError, apply_op, dump, flow, header_of, resolve, steps
from leadrelay.console.passwords import check_login, hash_password, parse_users, verify_password
from leadrelay.console.session import Session, read, sign

ROOT = Path(__file__).resolve().parents[2]


def test_a_password_hash_verifies_only_its_password() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("scrypt$") and "correct" not in hashed
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("correct horse batterY", hashed)
    assert not verify_password("x", "scrypt$notbase64!$x")
    users = parse_users([f"ana:admin:{hashed}"])
    assert check_login(users, "ana", "correct horse battery") == users["ana"]
    assert check_login(users, "ana", "wrong") is None
    assert check_login(users, "nobody", "correct horse battery") is None


@pytest.mark.parametrize("entry", ["ana:admin:plain-password", "ana:root:scrypt$a$b", "ana", ":admin:scrypt$a$b"])
def test_a_user_entry_that_is_not_a_hash_or_has_no_role_is_refused(entry: str) -> None:
    with pytest.raises(SettingsError):
        parse_users([entry])


def test_a_session_cookie_is_refused_when_forged_tampered_or_expired() -> None:
    secret = b"s" * 32
    session = Session(user="ana", role="viewer", csrf="c", expires=time.time() + 60, sid="i", cred="k")
    cookie = sign(session, secret)
    assert read(cookie, secret) == session
    assert read(cookie, b"t" * 32) is None
    body, _, mac = cookie.partition(".")
    forged = sign(Session(user="ana", role="admin", csrf="c", expires=time.time() + 60, sid="i", cred="k"), b"x")
    assert read(forged.partition(".")[0] + "." + mac, secret) is None  # an admin body under the viewer's MAC
    assert read(body + "." + mac[:-2], secret) is None
    assert read(cookie, secret, now=time.time() + 61) is None
    assert read("garbage", secret) is None


def test_paths_and_values_sent_as_text() -> None:
    assert steps("rules[2].when.all[0].field") == ["rules", 2, "when", "all", 0, "field"]
    doc = {"rules": [{"name": "a", "when": {"field": "x", "op": "in", "value": {"__yaml__": "[hot, warm]"}},
                      "pool": "p", "skills": ["s"],
                      "__rest__": {"text": "skills: [t, u]\nnew: 1", "keep": ["name", "when", "pool"]}}]}
    out = resolve(doc)
    assert out == {"rules": [{"name": "a", "when": {"field": "x", "op": "in", "value": ["hot", "warm"]}, "pool": "p",
                              "skills": ["t", "u"], "new": 1}]}
    with pytest.raises(EditError) as bad:
        resolve({"rules": [{"when": {"value": {"__yaml__": "[unclosed"}}}]})
    assert bad.value.path == "rules[0].when.value"


def test_structural_changes() -> None:
    doc = {"rules": [{"name": "a", "when": {"field": "x", "op": "eq", "value": 1}}, {"name": "b"}]}
    added = apply_op(doc, "add_condition", "rules[0].when")
    assert added["rules"][0]["when"] == {"all": [{"field": "x", "op": "eq", "value": 1},
                                                 {"field": "", "op": "eq", "value": ""}]}
    assert doc["rules"][0]["when"] == {"field": "x", "op": "eq", "value": 1}  # the input is left alone
    anyof = apply_op(added, "join", "rules[0].when", "any")
    assert list(anyof["rules"][0]["when"]) == ["any"]
    one = apply_op(anyof, "remove_condition", "rules[0].when.any[1]")
    assert one["rules"][0]["when"] == {"field": "x", "op": "eq", "value": 1}
    none = apply_op(one, "remove_condition", "rules[0].when")
    assert "when" not in none["rules"][0]
    moved = apply_op(doc, "move", "rules[1]", {"by": -1})
    assert [r["name"] for r in moved["rules"]] == ["b", "a"]
    dragged = apply_op(doc, "move", "rules[0]", 1)
    assert [r["name"] for r in dragged["rules"]] == ["b", "a"]
    grown = apply_op(doc, "add", "rules", {"name": "new_rule"})
    assert grown["rules"][-1]["name"] == "new_rule_1"
    with pytest.raises(EditError):
        apply_op(doc, "remove", "rules[7]")


def test_out_today_adds_one_absence_for_the_rep_named() -> None:
    team = {"reps": [{"id": "a", "out_of_office": []}, {"id": "b"}]}
    out = apply_op(team, "out_today", "reps", {"id": "b", "day": "2026-05-04"})
    assert out["reps"][1]["out_of_office"] == [{"start": "2026-05-04", "end": "2026-05-04", "note": "out today"}]
    again = apply_op(out, "out_today", "reps", {"id": "b", "day": "2026-05-04"})
    assert again == out  # already away that day: nothing added


def test_every_shipped_file_survives_the_round_trip_and_keeps_its_header() -> None:
    """Parsed and written back, each file still loads to the same config (only comments inside are lost)."""
    files = read_files(ROOT)
    again = {k: dump(yaml.safe_load(v), header_of(v)) for k, v in files.items()}
    before, after = config_from_texts(files), config_from_texts(again)
    for name in ("sources", "crm", "scoring", "tags", "routing", "team", "matching"):
        assert getattr(before, name) == getattr(after, name), name
    assert again["rules/routing.yaml"].startswith("# Northwind Analytics — who gets each lead.")
    assert flow(["hot", "warm"]) == "[hot, warm]" and flow(1000) == "1000" and flow("NO") == "'NO'"


def test_hash_password_cli_prints_an_entry_the_console_accepts() -> None:
    from typer.testing import CliRunner

    from leadrelay.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["admin", "hash-password", "--user", "ana", "--role", "viewer", "--stdin"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    entry = result.output.strip()
    assert entry.startswith("ana:viewer:scrypt$") and "long enough" not in entry
    users = parse_users([entry])
    assert check_login(users, "ana", "a long enough password") == users["ana"]
    short = runner.invoke(app, ["admin", "hash-password", "--stdin"], input="short\n")
    assert short.exit_code == 2


def test_other_settings_read_as_a_line_per_key_and_parse_back() -> None:
    from leadrelay.console.edit import block

    node = {"half_life_days": 7, "prefer": ["account_owner", "record_owner"], "on_unavailable": {"queue": "x"},
            "*": "other", "big": {f"k{i}": list(range(10)) for i in range(5)}}
    text = block(node)
    assert text.splitlines()[:4] == ["half_life_days: 7", "prefer: [account_owner, record_owner]",
                                     "on_unavailable: {queue: x}", "'*': other"]
    assert yaml.safe_load(text) == node


def test_text_that_looks_like_a_number_stays_quoted() -> None:
    text = dump({"postal_codes": [{"from": "070", "to": "079"}], "owner_ids": {"crm": "51200001"}, "n": 79})
    assert "to: '079'" in text and "crm: '51200001'" in text and "n: 79" in text
    assert yaml.safe_load(text) == {"postal_codes": [{"from": "070", "to": "079"}], "owner_ids": {"crm": "51200001"},
                                    "n": 79}
