"""`leadrelay dedupe`: the command on a Typer app of our own, through CliRunner, on real CSV files."""

import csv
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leadrelay.cli.dedupe import register

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test app."""

    register(app)
    return app


def write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


PEOPLE = [
    ["first_name", "last_name", "email", "phone", "company", "notes"],
    ["Robert", "Smith", "rsmith@acme.com", "", "Acme Inc.", "met at \"SaaStr\", booth 4"],
    ["Bob", "Smith", "bob.smith@gmail.com", "", "ACME", ""],
    ["Ann", "Lee", "ann.lee+x@gmail.com", "+1 415 555 2671", "", "Zoë's referral"],
    ["ANN", "LEE", "annlee@gmail.com", "", "", ""],
    ["Robert", "Smith", "", "", "Globex", "a different Robert Smith"],
]


def test_rows_come_back_unchanged_with_a_cluster_id(app: typer.Typer, tmp_path: Path) -> None:
    src, dst = write(tmp_path / "in.csv", PEOPLE), tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(dst)])
    assert result.exit_code == 0, result.output
    out = read(dst)
    assert out[0] == [*PEOPLE[0], "cluster_id"]
    # unchanged, but a cell starting with "+" is written formula-safe (and still read back as the same phone)
    assert [row[:-1] for row in out[1:]] == [[f"'{c}" if c.startswith("+") else c for c in row] for row in PEOPLE[1:]]
    assert [row[-1] for row in out[1:]] == ["1", "1", "2", "2", "3"]
    assert "rows: 5  clusters: 3  duplicates found: 2" in result.stdout


def test_map_names_columns_with_other_headers(app: typer.Typer, tmp_path: Path) -> None:
    rows = [["Given", "Surname", "E-mail Address", "Org"],
            ["Liz", "Moreau", "liz@initech.io", "Initech"],
            ["Elizabeth", "Moreau", "", "Initech LLC"],
            ["Elizabeth", "Morrow", "", "Initech"]]
    src, dst = write(tmp_path / "in.csv", rows), tmp_path / "out.csv"
    args = ["dedupe", str(src), "--out", str(dst), "--map", "first_name=Given", "--map", "last_name=Surname",
            "--map", "email=E-mail Address", "-m", "company=Org"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [row[-1] for row in read(dst)[1:]] == ["1", "1", "2"]


def test_common_header_spellings_need_no_map(app: typer.Typer, tmp_path: Path) -> None:
    rows = [["Full Name", "Email Address", "Company Name", "Website"],
            ["Dana Kowalski", "dana@initech.io", "Initech", "https://initech.io"],
            ["Dana Kowalsky", "dk@initech.io", "", "www.initech.io"]]
    src, dst = write(tmp_path / "in.csv", rows), tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(dst)])
    assert result.exit_code == 0, result.output
    assert "full_name='Full Name'" in result.stdout and "domain='Website'" in result.stdout
    assert [row[-1] for row in read(dst)[1:]] == ["1", "1"]


def test_an_existing_cluster_id_column_is_replaced(app: typer.Typer, tmp_path: Path) -> None:
    rows = [["email", "cluster_id"], ["a@x.com", "old"], ["A@X.COM", "old"]]
    src, dst = write(tmp_path / "in.csv", rows), tmp_path / "out.csv"
    assert runner.invoke(app, ["dedupe", str(src), "--out", str(dst)]).exit_code == 0
    assert read(dst) == [["email", "cluster_id"], ["a@x.com", "1"], ["A@X.COM", "1"]]


def test_unknown_column_in_map_names_it(app: typer.Typer, tmp_path: Path) -> None:
    src, dst = write(tmp_path / "in.csv", PEOPLE), tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(dst), "--map", "email=Work Email"])
    assert result.exit_code == 1
    assert "'Work Email'" in result.stderr and "not in the header" in result.stderr
    assert not dst.exists()


@pytest.mark.parametrize(("item", "says"), [("mail=email", "unknown field 'mail'"), ("email", "FIELD=COLUMN")])
def test_bad_map_items(app: typer.Typer, tmp_path: Path, item: str, says: str) -> None:
    src = write(tmp_path / "in.csv", PEOPLE)
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(tmp_path / "o.csv"), "--map", item])
    assert result.exit_code == 1 and says in result.stderr


def test_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["dedupe", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "nope.csv" in result.stderr


def test_no_usable_column(app: typer.Typer, tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", [["colour", "size"], ["red", "L"]])
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "no column to match people on" in result.stderr


def test_a_row_with_extra_fields_names_file_and_line(app: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("email,name\na@x.com,Ann\nb@x.com,Bo, Jr\nc@x.com,Cy\n", encoding="utf-8")
    dst = tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(dst)])
    assert result.exit_code == 1
    assert f"{src}:3: 3 fields where the header has 2" in result.stderr
    assert not dst.exists()  # never half-applied


def test_an_unterminated_quote_names_file_and_line(app: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text('email,name\na@x.com,Ann\n"b@x.com,Bo\n', encoding="utf-8")
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and f"{src}:3: malformed CSV" in result.stderr


def test_not_utf8(app: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes("email,name\na@x.com,Ren\xe9e\n".encode("latin-1"))
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "not UTF-8" in result.stderr


def test_bad_rules_file_names_file_line_and_field(app: typer.Typer, tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", PEOPLE)
    rules = tmp_path / "matching.yaml"
    rules.write_text("person:\n  threshold: high\n", encoding="utf-8")
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(tmp_path / "o.csv"), "--rules", str(rules)])
    assert result.exit_code == 1
    assert f"{rules}:2: person.threshold" in result.stderr


def test_rules_file_changes_the_outcome(app: typer.Typer, tmp_path: Path) -> None:
    src, dst = write(tmp_path / "in.csv", PEOPLE), tmp_path / "out.csv"
    rules = tmp_path / "matching.yaml"
    rules.write_text("person:\n  threshold: 0.99\n", encoding="utf-8")  # nicknames no longer enough
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(dst), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert [row[-1] for row in read(dst)[1:]] == ["1", "2", "3", "3", "4"]


def test_cells_a_spreadsheet_would_run_as_formulas_are_written_inert(app: typer.Typer, tmp_path: Path) -> None:
    """OWASP's CSV injection advice: a cell starting with = + - @ tab or CR gets a leading single quote, so a
    spreadsheet shows it as text instead of running it. A plain number (-42, +14155550123) runs nothing: kept."""
    rows = [
        ["email", "company", "=HEADER()"],
        ["a@x.com", "=cmd|' /C calc'!A0", "+SUM(1,2)"],
        ["b@x.com", "-2+3", "@SUM(A1)"],
        ["c@x.com", "\tx", "\rx"],
        ["d@x.com", "-42", "+14155550123"],
        ["e@x.com", "Acme = good", "a+b"],
    ]
    src, dst = write(tmp_path / "in.csv", rows), tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(src), "--out", str(dst)])
    assert result.exit_code == 0, result.output
    assert [row[:3] for row in read(dst)] == [
        ["email", "company", "'=HEADER()"],
        ["a@x.com", "'=cmd|' /C calc'!A0", "'+SUM(1,2)"],
        ["b@x.com", "'-2+3", "'@SUM(A1)"],
        ["c@x.com", "'\tx", "'\rx"],
        ["d@x.com", "-42", "+14155550123"],
        ["e@x.com", "Acme = good", "a+b"],
    ]
