"""``deeptrust serve`` and ``deeptrust keys create|list|revoke``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from deeptrust.settings import Settings, get_settings

console = Console(stderr=True)
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys (stored hashed in DEEPTRUST_HOME).")


def serve(
    model: Annotated[
        str | None, typer.Option(help="Model name, directory or .onnx (default: DEEPTRUST_MODEL)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes sharing the port (default 1)")
    ] = None,
) -> None:
    """Serve predictions over HTTP (FastAPI on uvicorn)."""
    try:
        import uvicorn

        from deeptrust.serve import workers as multi
        from deeptrust.serve.app import create_app
        from deeptrust.serve.logs import configure_logging
        from deeptrust.serve.middleware import allowed_hosts
        from deeptrust.serve.service import InsecureConfigError, build_service
    except ImportError as exc:
        raise typer.BadParameter(f"{exc}: install the service with `pip install 'deeptrust[serve]'`") from exc
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"model": model, "host": host, "port": port, "workers": workers}.items()
        if v is not None
    }
    try:
        settings = Settings(**overrides)  # explicit options win over DEEPTRUST_* variables
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            console.print(f"[red]error:[/] DEEPTRUST_{field.upper()}: {error['msg']}", soft_wrap=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level)
    try:
        if settings.workers > 1:
            info, required = multi.preflight(settings)
        else:
            service = build_service(settings)
            info, required = service.holder.current.info, service.auth_required
    except (InsecureConfigError, FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    auth = "required" if required else "optional"
    processes = f", {settings.workers} workers" if settings.workers > 1 else ""
    hosts = ", ".join(allowed_hosts(settings.allowed_hosts, settings.host))
    console.print(
        f"deeptrust serving [bold]{info['name']}[/] {info['version']} "
        f"on http://{settings.host}:{settings.port} (docs: /docs, auth {auth}{processes}; "
        f"answers to Host {hosts}: DEEPTRUST_ALLOWED_HOSTS)",
        soft_wrap=True,
    )
    options: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "backlog": 2048,
    }
    if settings.workers > 1:
        multi.run(settings, **options)
        return
    config = uvicorn.Config(
        create_app(settings, service=service), host=settings.host, port=settings.port, **options
    )
    _graceful_server_class()(config).run()


def _graceful_server_class():  # type: ignore[no-untyped-def]
    import contextlib

    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its graceful shutdown (exit status 143); a clean stop exits 0."""

        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return GracefulServer


def _store():  # type: ignore[no-untyped-def]
    from deeptrust.serve.auth import KeyStore

    return KeyStore(get_settings().keys_file)


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="Who or what the key is for")],
    role: Annotated[str, typer.Option(help="user, moderator or admin")] = "user",
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    try:
        record, plaintext = _store().create(name, role=role)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(
        f"created key [bold]{record.id}[/] for {name} ({role}); store it now, it is not shown again:"
    )
    typer.echo(plaintext)


@keys_app.command("list")
def list_keys() -> None:
    """List keys (ids, names, roles, state; never the keys themselves)."""
    table = Table("id", "name", "role", "created", "revoked")
    for k in _store().list():
        table.add_row(k.id, k.name, k.role, k.created_at, k.revoked_at or "")
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `deeptrust keys list`)")],
) -> None:
    """Revoke a key; a running server refuses it from its next request."""
    try:
        record = _store().revoke(key_id)
    except KeyError as exc:
        console.print(f"[red]error:[/] {exc.args[0]}")
        raise typer.Exit(1) from exc
    console.print(f"revoked {record.id} ({record.name}) at {record.revoked_at}")
