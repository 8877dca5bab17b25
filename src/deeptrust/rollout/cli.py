"""``deeptrust rollout status | start MODEL --mode shadow|canary --share P | promote | abort``.

A client of the running service's admin API (``/v1/rollout``): the rollout lives in the server, so these
commands talk to it over HTTP (stdlib only, so the command works wherever deeptrust is installed). Bad
input is refused here before any request (share outside 0–1); the server's problems are printed as they
come, with a non-zero exit.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True)
err = Console(stderr=True)

Url = Annotated[str, typer.Option(help="The service's base URL.", envvar="DEEPTRUST_URL")]
Key = Annotated[
    str | None,
    typer.Option(help="An admin API key or JWT (or DEEPTRUST_API_KEY).", envvar="DEEPTRUST_API_KEY"),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the server's JSON answer.")]
DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    pass


def call(url: str, key: str | None, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the admin API → its JSON, or ApiError with the problem's detail."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            problem = json.loads(exc.read())
            detail = problem.get("detail", exc.reason)
        except (ValueError, AttributeError):
            detail = exc.reason
        raise ApiError(f"{exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(
            f"cannot reach the service at {url} ({reason}); is `deeptrust serve` running?"
        ) from None


def _run(
    url: str, key: str | None, method: str, path: str, body: dict[str, Any] | None, as_json: bool
) -> None:
    try:
        answer = call(url, key, method, path, body)
    except ApiError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
    else:
        show(answer)


def show(status: dict[str, Any]) -> None:
    """A few lines a person reads: champion, the running challenger and its window, how the last ended."""
    champion = status["champion"]
    typer.echo(f"champion: {champion['name']} {champion['version']}")
    rollout = status.get("rollout")
    if rollout is None:
        typer.echo("rollout: none running")
    else:
        c = rollout["challenger"]
        typer.echo(f"rollout: {rollout['mode']} {c['name']} {c['version']} at share {rollout['share']:g}")
        window = status.get("window")
        if window:
            p95 = "-" if window["p95_s"] is None else f"{window['p95_s'] * 1e3:.1f} ms"
            rate = "-" if window["error_rate"] is None else f"{window['error_rate']:.1%}"
            agree = "-" if window["disagreement"] is None else f"{window['disagreement']:.1%}"
            typer.echo(
                f"  window: {window['attempts']} scored, errors {rate}, p95 {p95}, "
                f"disagreement {agree} of {window['compared']} compared"
            )
    last = status.get("last")
    if last:
        m = last["model"]
        typer.echo(f"last: {m['name']} {m['version']} {last['outcome']} ({last['reason']}): {last['detail']}")


@app.command()
def status(url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False) -> None:
    """Show the champion, the running challenger with its window, and how the last rollout ended."""
    _run(url, key, "GET", "/v1/rollout", None, as_json)


@app.command()
def start(
    model: Annotated[
        str,
        typer.Argument(
            help="The challenger: a name, a registry reference (photos@challenger, photos/3) or a path."
        ),
    ],
    mode: Annotated[str, typer.Option(help="shadow or canary.")] = "shadow",
    share: Annotated[
        float, typer.Option(help="Share of requests scored (shadow) or answered (canary), 0-1.")
    ] = 0.1,
    max_error_rate: Annotated[float | None, typer.Option(help="Abort above this canary error rate.")] = None,
    max_p95_ms: Annotated[float | None, typer.Option(help="Abort above this canary p95 (0: off).")] = None,
    max_disagreement: Annotated[
        float | None, typer.Option(help="Abort above this share of labels unlike the champion's.")
    ] = None,
    window_s: Annotated[float | None, typer.Option(help="Seconds of traffic the abort judges.")] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Start a challenger beside the champion (abort limits: the server's DEEPTRUST_ROLLOUT_*, or these)."""
    if mode not in ("shadow", "canary"):
        raise typer.BadParameter(f"expected shadow or canary, got {mode!r}", param_hint="--mode")
    if not 0.0 <= share <= 1.0:
        raise typer.BadParameter(
            f"a share of requests is between 0 and 1, got {share:g}", param_hint="--share"
        )
    limits = {
        "max_error_rate": max_error_rate,
        "max_p95_ms": max_p95_ms,
        "max_disagreement": max_disagreement,
        "window_s": window_s,
    }
    body = {
        "model": model,
        "mode": mode,
        "share": share,
        "abort": {k: v for k, v in limits.items() if v is not None},
    }
    _run(url, key, "POST", "/v1/rollout", body, as_json)


@app.command()
def promote(url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False) -> None:
    """Make the running challenger the champion (hot swap, no request dropped)."""
    _run(url, key, "POST", "/v1/rollout/promote", None, as_json)


@app.command()
def abort(url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False) -> None:
    """Stop the running challenger; the champion answers everything again."""
    _run(url, key, "POST", "/v1/rollout/abort", None, as_json)
