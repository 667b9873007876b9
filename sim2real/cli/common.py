"""What every command shares: the client, `--json`, printing, errors as exit codes, following a job."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sim2real.client import Client, Job, JobFailed, Sim2RealError, format_eta
from sim2real.models import JobEvent

# Piped output is read by programs: wide tables, and messages never wrapped mid-line.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Print the queued job and return at once.")]


class State:
    """The global options (`sim2real --url … --api-key …`), and the client made from them on first use."""

    url: str | None = None
    api_key: str | None = None
    _client: Client | None = None

    @classmethod
    def client(cls) -> Client:
        if cls._client is None:
            cls._client = Client(cls.url, cls.api_key)
        return cls._client


def client() -> Client:
    return State.client()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def handles_errors(fn: F) -> F:
    """The service's refusals, failed jobs and bad arguments become a message on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JobFailed as exc:
            raise fail(exc.message) from None
        except (Sim2RealError, ValueError, OSError) as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def jsonable(value: Any) -> Any:
    if isinstance(value, Job):
        value = value.state
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), indent=2, default=str) + "\n")
    sys.stdout.flush()


def show(value: Any, as_json: bool) -> None:
    """One thing: JSON on stdout with --json, else highlighted JSON for a person."""
    if as_json:
        print_json(value)
    else:
        out.print_json(json.dumps(jsonable(value), default=str))


def table(
    rows: Iterable[Any], columns: Sequence[tuple[str, Callable[[Any], Any]]], as_json: bool, title: str = ""
) -> None:
    """A list: a JSON array with --json, else a table of the chosen columns."""
    rows = list(rows)
    if as_json:
        print_json(rows)
        return
    t = Table(title=title or None, show_lines=False)
    for n, (name, _) in enumerate(columns):
        # Ids stay whole (to copy them); the last column takes what room is left.
        t.add_column(name, overflow="fold", no_wrap=n < len(columns) - 1)
    for row in rows:
        t.add_row(*(Text("" if (v := get(row)) is None else str(v)) for _, get in columns))
    out.print(t)
    if not rows:
        err.print("(none)")


def parse_value(text: str) -> Any:
    """A command-line value as JSON where it parses (80, true, [1, 2], {"a": 1}), else as text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pairs(pairs: Sequence[str] | None, option: str) -> dict[str, Any]:
    """`k=v` options into a dict, values parsed by `parse_value`; dotted keys nest (a.b=1)."""
    result: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{option} {pair!r}: write it as key=value")
        node = result
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = parse_value(value)
    return result


def parse_json_option(text: str | None, option: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option}: must be a JSON object")
    return value


def job_columns() -> list[tuple[str, Callable[[Any], Any]]]:
    return [
        ("id", lambda j: j.id),
        ("kind", lambda j: j.kind),
        ("status", lambda j: j.status),
        ("progress", lambda j: f"{j.progress:.0%}"),
        ("eta", lambda j: format_eta(j.eta_s)),
        ("message", lambda j: (j.error or j.message or "")[:80]),
        ("created", lambda j: j.created_at.strftime("%Y-%m-%d %H:%M:%S")),
    ]


def progress_bar(transient: bool = False) -> Progress:
    """A Rich bar on stderr (stdout stays clean for --json), with the job's message and ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}"),
        TextColumn("[cyan]{task.fields[eta]}"),
        TimeElapsedColumn(),
        console=err,
        transient=transient,
    )


def follow(job: Job, as_json: bool, wait: bool = True) -> Job:
    """Wait for a job with a live bar (message, percent, ETA from the server's `eta_s`), then print it;
    a failed or cancelled job exits 1 with the server's message."""
    if not wait:
        show(job, as_json)
        return job
    with progress_bar() as bar:
        task = bar.add_task(
            f"{job.kind} {job.id[:8]}", total=1.0, status=job.status, eta=format_eta(job.eta_s)
        )

        def update(event: JobEvent) -> None:
            label = f"{job.kind} {job.id[:8]}" + (f" {event.message[:50]}" if event.message else "")
            bar.update(
                task,
                completed=event.progress or 0.0,
                description=label,
                status=event.status,
                eta=f"eta {format_eta(event.eta_s)}" if event.eta_s is not None else "",
            )

        job.wait(progress=update, raise_on_failure=False)
    if as_json:
        print_json(job)
    for warning in job.warnings or []:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    if job.status != "succeeded":
        raise JobFailed(job.state)
    if not as_json:
        summary = {"id": job.id, "kind": job.kind, "status": job.status, "result": job.result}
        out.print_json(json.dumps(summary, default=str))
    return job
