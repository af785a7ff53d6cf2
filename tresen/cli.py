"""The `tresen` command: serve, demo, migrate, users, tokens."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import secrets
import sys
from dataclasses import replace

from tresen import channel as channel_registry
from tresen import rooms
from tresen.accounts import AccountError, create_token, create_user
from tresen.models import ROLES
from tresen.runtime import Runtime
from tresen.settings import Settings, SettingsError

DEMO_MODULES = ("customers.demo", "tickets.demo", "routing.demo", "knowledge_base.demo")
DEMO_LOGINS = (
    ("agent@demo.tresen.test", "demo-agent-pw", "agent", "Anna Agent"),
    ("lena@demo.tresen.test", "demo-agent-pw", "agent", "Lena Lehmann"),
    ("supervisor@demo.tresen.test", "demo-super-pw", "supervisor", "Sam Supervisor"),
    ("admin@demo.tresen.test", "demo-admin-pw", "admin", "Ada Admin"),
)


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it, then exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {raw!r} is not a number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port {port} is not between 1 and 65535")
    return port


def _serve_options() -> list:
    """The channels' settings that `tresen serve` takes as flags (e.g. --smtp-port)."""
    return [
        (channel, option)
        for channel in channel_registry.channels()
        for option in channel.options
        if option.flag
    ]


def _option_type(option):
    def parse(raw: str):
        try:
            return option.parse(raw)
        except (ValueError, TypeError) as error:
            raise argparse.ArgumentTypeError(f"{raw!r}: {error}") from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tresen", description="Tresen service desk")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    for name, help_text in (
        ("serve", "run the server"),
        ("demo", "migrate, load demo data once, and serve"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=_port, default=8000)
        if name == "serve":
            command.add_argument("--workers", type=int, default=1)
            for _channel, option in _serve_options():
                command.add_argument(option.flag, type=_option_type(option), help=option.help)
    commands.add_parser("migrate", help="bring the database schema up to date")

    users = commands.add_parser("users", help="staff users").add_subparsers(
        dest="action", required=True, parser_class=OneLineParser
    )
    create = users.add_parser("create", help="create a staff user")
    create.add_argument("email")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--password", help="at least 8 characters; generated when left out")

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True, parser_class=OneLineParser
    )
    token = tokens.add_parser("create", help="print a new API token for a user")
    token.add_argument("email")
    token.add_argument("--name", default="cli")
    for module in rooms.cli_modules():
        module.add_commands(commands)
    return parser


async def _migrate(settings: Settings) -> None:
    from tresen.migrate import upgrade

    runtime = Runtime.create(settings)
    try:
        await upgrade(runtime.engine, secret_key=settings.secret_key, base_url=settings.base_url)
    finally:
        await runtime.engine.dispose()


async def _with_runtime(settings: Settings, work):
    runtime = Runtime.create(settings)
    try:
        return await work(runtime)
    finally:
        await runtime.engine.dispose()


async def _seed_demo(runtime: Runtime) -> bool:
    """Load demo data into an empty database; False when it holds users already."""
    from sqlalchemy import func, select

    from tresen.models import User

    async with runtime.read() as session:
        if await session.scalar(select(func.count(User.id))):
            return False
    for email, password, role, name in DEMO_LOGINS:
        await create_user(runtime, email=email, name=name, role=role, password=password)
    for name in DEMO_MODULES:
        await importlib.import_module(name).seed(runtime)
    return True


def _serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    # Live updates go to many sockets at once: compressing each copy separately would cost
    # more CPU than the few kilobytes of HTML it saves.
    options = {"host": host, "port": port, "ws_per_message_deflate": False}
    if workers > 1:
        uvicorn.run("tresen.app:create_app", factory=True, workers=workers, **options)
    else:
        from tresen.app import create_app

        uvicorn.run(create_app(settings), log_level="info", **options)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    rooms.load_models()
    room_commands = {module.COMMAND: module for module in rooms.cli_modules()}
    try:
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("database schema is up to date")
        elif args.command == "serve":
            if settings.is_postgres and not os.environ.get("TRESEN_SECRET_KEY"):
                # Each machine would make its own key: sessions and the channels' stored
                # passwords would only work on the machine that made them.
                print(
                    "tresen: warning: TRESEN_SECRET_KEY is not set; using the key in "
                    f"{settings.data_dir / 'secret_key'}. Every server sharing this database "
                    "needs the same key: set TRESEN_SECRET_KEY on each.",
                    file=sys.stderr,
                )
            if args.workers > 1 and not settings.is_postgres:
                raise SettingsError(
                    f"--workers {args.workers} needs PostgreSQL (TRESEN_DATABASE_URL=postgresql://"
                    "...); on SQLite one process serves, and its live events stay in-process"
                )
            if args.workers < 1:
                raise SettingsError(f"--workers {args.workers} must be at least 1")
            asyncio.run(_migrate(settings))
            options = dict(settings.channel_options)
            for channel, option in _serve_options():
                value = getattr(args, option.flag.lstrip("-").replace("-", "_"))
                if value is not None:
                    # Through the environment too, so every worker process of uvicorn sees it.
                    os.environ[option.env] = str(value)
                    options[f"{channel.name}.{option.name}"] = value
            settings = replace(settings, channel_options=options)
            _serve(settings, args.host, args.port, args.workers)
        elif args.command == "demo":
            asyncio.run(_migrate(settings))
            seeded = asyncio.run(_with_runtime(settings, _seed_demo))
            print("demo data loaded" if seeded else "demo data was loaded before; keeping it")
            print(f"open http://{args.host}:{args.port}/ and sign in with")
            for email, password, role, _name in DEMO_LOGINS:
                print(f"  {email} / {password}  ({role})")
            sys.stdout.flush()
            _serve(settings, args.host, args.port)
        elif args.command == "users":
            password = args.password or secrets.token_urlsafe(12)
            user = asyncio.run(
                _with_runtime(
                    settings,
                    lambda runtime: create_user(
                        runtime, email=args.email, name=args.name, role=args.role, password=password
                    ),
                )
            )
            print(f"created {user.role} {user.email} (id {user.id})")
            if not args.password:
                print(f"password: {password}")
        elif args.command in room_commands:
            return room_commands[args.command].run(args, settings, _with_runtime)
        elif args.command == "tokens":
            token = asyncio.run(
                _with_runtime(
                    settings, lambda runtime: create_token(runtime, args.email, name=args.name)
                )
            )
            print(token)
    except (AccountError, SettingsError) as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
