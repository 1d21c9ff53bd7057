"""`leadrelay dedupe`: cluster a CSV list of people and write it back with a ``cluster_id`` column."""

from __future__ import annotations

import csv
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.csv import SafeWriter
from connector.errors import ConfigError
from connector.match import Ident, MatchConfig, cluster_idents, ident, load_match_config

# canonical field -> header names understood without a --map (compared case- and punctuation-insensitively)
FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "firstname", "first", "given_name", "givenname"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name", "familyname"),
    "full_name": ("full_name", "fullname", "name", "contact_name", "contactname"),
    "email": ("email", "email_address", "emailaddress", "e_mail", "mail"),
    "phone": ("phone", "phone_number", "phonenumber", "telephone", "mobile", "mobilephone", "mobile_phone"),
    "company": ("company", "company_name", "companyname", "organization", "organisation", "account", "account_name"),
    "domain": ("domain", "company_domain", "website", "url", "web_site"),
}
CLUSTER_COLUMN = "cluster_id"


class DedupeError(Exception):
    """Bad input for `leadrelay dedupe`: the message says what and where."""


def _norm_header(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").replace(".", " ").split())


def resolve_columns(header: list[str], maps: list[str], source: str) -> dict[str, int]:
    """Canonical field -> column index, from ``--map field=COL`` first, then from header names."""
    columns: dict[str, int] = {}
    positions = {name: i for i, name in reversed(list(enumerate(header)))}
    for item in maps:
        field, sep, column = item.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise DedupeError(f"--map {item!r}: expected FIELD=COLUMN, e.g. --map email='E-mail Address'")
        if field not in FIELDS:
            raise DedupeError(f"--map {item!r}: unknown field {field!r}; fields are {', '.join(FIELDS)}")
        if column not in positions:
            raise DedupeError(
                f"--map {field}={column}: column {column!r} is not in the header of {source} "
                f"(columns: {', '.join(repr(h) for h in header)})"
            )
        columns[field] = positions[column]
    normalized: dict[str, int] = {}
    for i, name in enumerate(header):
        normalized.setdefault(_norm_header(name), i)
    for field, aliases in FIELDS.items():
        if field not in columns:
            for alias in aliases:
                if alias in normalized:
                    columns[field] = normalized[alias]
                    break
    if not {"email", "phone", "last_name", "full_name"} & columns.keys():
        raise DedupeError(
            f"{source}: no column to match people on; name one with --map email=COL, --map last_name=COL, "
            f"--map phone=COL or --map full_name=COL (columns: {', '.join(repr(h) for h in header)})"
        )
    return columns


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a UTF-8 CSV file; a malformed row raises DedupeError with file:line."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below, errors need the reader
    except OSError as exc:
        raise DedupeError(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader, None)
            if not header:
                raise DedupeError(f"{path}: empty file, expected a header row")
            width = len(header)
            rows: list[list[str]] = []
            for row in reader:
                if not row:
                    continue  # a blank line is not a row
                if len(row) != width:
                    raise DedupeError(
                        f"{path}:{reader.line_num}: {len(row)} fields where the header has {width}; "
                        "quote values that contain commas"
                    )
                rows.append(row)
        except csv.Error as exc:
            raise DedupeError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise DedupeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
    return header, rows


def _split_full(full: str) -> tuple[str | None, str | None]:
    from connector.transforms import split_name

    name = split_name(full)
    return name[1], name[2]


def prepare(rows: list[list[str]], columns: dict[str, int], tick: Callable[[int], None] | None = None) -> list[Ident]:
    """Each row's comparable identity, from the resolved columns."""

    def col(field: str) -> int | None:
        return columns.get(field)

    first_i, last_i, full_i = col("first_name"), col("last_name"), col("full_name")
    email_i, phone_i, company_i, domain_i = col("email"), col("phone"), col("company"), col("domain")
    out: list[Ident] = []
    for n, row in enumerate(rows, 1):
        first = row[first_i] if first_i is not None else None
        last = row[last_i] if last_i is not None else None
        if full_i is not None and not (first and first.strip()) and not (last and last.strip()) and row[full_i]:
            first, last = _split_full(row[full_i])
        out.append(
            ident(
                email=row[email_i] if email_i is not None else None,
                phone=row[phone_i] if phone_i is not None else None,
                first_name=first,
                last_name=last,
                company=row[company_i] if company_i is not None else None,
                domain=row[domain_i] if domain_i is not None else None,
            )
        )
        if tick is not None and n % 2000 == 0:
            tick(2000)
    if tick is not None:
        tick(len(rows) % 2000)
    return out


def write_rows(path: Path, header: list[str], rows: list[list[str]], clusters: list[int]) -> None:
    """Write the rows plus ``cluster_id``, via a temporary file so a failure leaves no half file. Rows come back
    unchanged but for cells a spreadsheet would run as formulas (``adapters.csv.formula_safe``)."""
    existing = header.index(CLUSTER_COLUMN) if CLUSTER_COLUMN in header else None
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = SafeWriter(fh)
            if existing is None:
                writer.writerow([*header, CLUSTER_COLUMN])
                writer.writerows([*row, str(c)] for row, c in zip(rows, clusters, strict=True))
            else:
                writer.writerow(header)
                for row, c in zip(rows, clusters, strict=True):
                    row = list(row)
                    row[existing] = str(c)
                    writer.writerow(row)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DedupeError(f"cannot write {path}: {exc.strerror}") from exc


def register(app: typer.Typer) -> None:
    app.command("dedupe")(dedupe)


def dedupe(
    in_csv: Path = typer.Argument(..., metavar="IN.csv", help="CSV file with a header row (UTF-8)."),
    out: Path = typer.Option(..., "--out", "-o", metavar="OUT.csv", help="Where to write the rows plus cluster_id."),
    map_: list[str] = typer.Option(
        [],
        "--map",
        "-m",
        metavar="FIELD=COLUMN",
        help=f"Which column holds a field ({', '.join(FIELDS)}). Columns already named so need no --map.",
    ),
    rules: Path | None = typer.Option(
        None, "--rules", help="Matching thresholds (rules/matching.yaml); built-in defaults if omitted."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Find duplicate people in a CSV list and write every row back with a [bold]cluster_id[/] column.

    Rows with the same cluster_id are the same person: same email (Gmail dots and +tags folded), same phone,
    or a close name (nicknames, typos) at the same company. Rows are compared only within blocks that share
    a key, so 100,000 rows take seconds.
    """
    console = Console(stderr=True)
    started = time.perf_counter()
    try:
        config = load_match_config(rules) if rules else MatchConfig()
        header, rows, columns, clusters = _cluster_file(in_csv, out, map_, config, console, quiet=quiet)
    except (DedupeError, ConfigError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    _report(out, header, rows, columns, clusters, seconds=time.perf_counter() - started)


def _cluster_file(in_csv: Path, out: Path, maps: list[str], config: MatchConfig, console: Console, *,
                  quiet: bool) -> tuple[list[str], list[list[str]], dict[str, int], list[int]]:
    """Read, prepare, cluster and write, with a progress bar per step."""
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=True,
    ) as progress:
        reading = progress.add_task("reading", total=None)
        header, rows = read_rows(in_csv)
        progress.update(reading, total=len(rows), completed=len(rows))
        columns = resolve_columns(header, maps, str(in_csv))
        preparing = progress.add_task("preparing", total=len(rows))
        idents = prepare(rows, columns, lambda k: progress.advance(preparing, k))
        clustering = progress.add_task("clustering", total=len(rows))
        clusters = cluster_idents(idents, config=config)
        progress.update(clustering, completed=len(rows))
        writing = progress.add_task("writing", total=len(rows))
        write_rows(out, header, rows, clusters)
        progress.update(writing, completed=len(rows))
    return header, rows, columns, clusters


def _report(out: Path, header: list[str], rows: list[list[str]], columns: dict[str, int], clusters: list[int], *,
            seconds: float) -> None:
    sizes = Counter(clusters)
    n_clusters = len(sizes)
    in_duplicates = sum(n for n in sizes.values() if n > 1)
    used = ", ".join(f"{field}={header[i]!r}" for field, i in columns.items())
    out_console = Console(file=sys.stdout, soft_wrap=True)
    out_console.print(f"columns: {used}", highlight=False)
    out_console.print(
        f"rows: {len(rows)}  clusters: {n_clusters}  duplicates found: {len(rows) - n_clusters} "
        f"(rows in a cluster of 2+: {in_duplicates})  seconds: {seconds:.2f}",
        highlight=False,
    )
    out_console.print(f"wrote {out}", highlight=False)
