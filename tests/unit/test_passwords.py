"""Console password hashes (issue 17): ``scrypt$N$r$p$salt$hash`` at N=2^17 carries its own parameters, and a hash
made before (``scrypt$salt$hash``, N=2^14, r=8, p=1) still signs in; parameters a hash names are bounded, so an
entry in the environment cannot ask for gigabytes."""

from __future__ import annotations

import pytest

from connector.errors import SettingsError
from leadrelay.console.passwords import check_login, hash_password, parse_users, verify_password

# made by the code before issue 17 (hash_password("an old password 2025", salt=b"sixteen byte slt"))
OLD = "scrypt$c2l4dGVlbiBieXRlIHNsdA$Dr50LDbMWtF451Tuom7eg4rQMf0EM-CzNnxAOoZPXx8"


def test_a_new_hash_names_its_parameters_at_n_2_17() -> None:
    hashed = hash_password("correct horse battery")
    scheme, n, r, p, salt, digest = hashed.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**17), "8", "1")
    assert salt and digest
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("correct horse batterY", hashed)


def test_a_hash_in_the_old_format_still_signs_in() -> None:
    assert verify_password("an old password 2025", OLD)
    assert not verify_password("an old password 2026", OLD)
    users = parse_users([f"ana:admin:{OLD}"])
    assert check_login(users, "ana", "an old password 2025") == users["ana"]


@pytest.mark.parametrize("params", ["131071$8$1", "0$8$1", "2097152$8$1", "131072$64$1", "131072$8$99", "x$8$1"])
def test_parameters_out_of_bounds_are_refused_at_start(params: str) -> None:
    entry = f"ana:admin:scrypt${params}$c2FsdA$aGFzaA"
    with pytest.raises(SettingsError, match="LEADRELAY_ADMIN_USERS entry 1"):
        parse_users([entry])
    assert not verify_password("x", entry.split(":", 2)[2])


def test_hash_password_cli_prints_the_new_format() -> None:
    from typer.testing import CliRunner

    from leadrelay.cli import app

    result = CliRunner().invoke(app, ["admin", "hash-password", "--user", "ana", "--role", "viewer", "--stdin"],
                                input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith(f"ana:viewer:scrypt${2**17}$8$1$")
