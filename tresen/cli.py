"""The `tresen` command: serve, demo, migrate, users, tokens."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import os
import secrets
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tresen import accounts, rooms
from tresen import channel as channel_registry
from tresen.accounts import TOKEN_SCOPES, AccountConflict, AccountError, create_token, create_user
from tresen.models import ROLES
from tresen.runtime import Runtime
from tresen.settings import Settings, SettingsError

# In order, "module" (its `seed`) or "module:function": the desk is set up (queues, rules,
# articles, the bot) before the sample messages arrive through the inbox and are routed.
DEMO_MODULES = (
    "customers.demo",
    "tickets.demo",
    "routing.demo",
    "knowledge_base.demo",
    "channels.chat.demo",
    "bots.demo",
    "channels.email.demo",
    "channels.portal.demo",
    "channels.chat.demo:arrive",
    "tickets.demo:arrive",
    "routing.demo:settle",
)
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


def _positive(what: str):
    def parse(raw: str) -> int:
        try:
            number = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {raw!r} is not a number") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{what} {number} is not 1 or more")
        return number

    return parse


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
        if name == "demo":
            command.add_argument(
                "--reset",
                action="store_true",
                help="forget the demo's database and mail first, and load the demo data afresh",
            )
        if name == "serve":
            command.add_argument("--workers", type=int, default=1)
            command.add_argument(
                "--forwarded-allow-ips",
                help="proxies whose X-Forwarded-For/-Proto are believed (addresses or networks, "
                "comma-separated; '*' any; 'none'); default TRESEN_FORWARDED_ALLOW_IPS, "
                "else 127.0.0.1",
            )
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
    given = create.add_mutually_exclusive_group()
    given.add_argument(
        "--password",
        help="at least 8 characters (seen by anyone running `ps`: prefer --password-file); "
        "generated when left out",
    )
    given.add_argument("--password-file", type=Path, help="read it from this file's first line")
    users.add_parser("list", help="every staff user: id, email, role, state, name")
    for action, help_text in (
        ("deactivate", "end the user's sessions; no more sign-in or API tokens"),
        ("reactivate", "let a deactivated user sign in and use their tokens again"),
        ("sign-out", "end every console session of the user"),
    ):
        users.add_parser(action, help=help_text).add_argument("email")
    role = users.add_parser("set-role", help="a user's new role")
    role.add_argument("email")
    role.add_argument("role", choices=ROLES)
    invite = users.add_parser(
        "invite", help="create a user without a password; print their link to set one"
    )
    invite.add_argument("email")
    invite.add_argument("--name", required=True)
    invite.add_argument("--role", required=True, choices=ROLES)
    password = users.add_parser(
        "set-password", help="a new password, asked for; ends the user's sessions"
    )
    password.add_argument("email")
    password.add_argument(
        "--password-file", type=Path, help="read the password from this file's first line"
    )

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True, parser_class=OneLineParser
    )
    token = tokens.add_parser("create", help="print a new API token for a user")
    token.add_argument("email")
    token.add_argument("--name", default="cli")
    token.add_argument("--expires-days", type=_positive("--expires-days"))
    token.add_argument(
        "--scope",
        action="append",
        choices=TOKEN_SCOPES,
        default=[],
        help="integration: may deliver inbound messages (POST /api/v1/inbound)",
    )
    listing = tokens.add_parser("list", help="the API tokens (of one user), never the tokens")
    listing.add_argument("email", nargs="?")
    tokens.add_parser("revoke", help="stop a token at once").add_argument(
        "id", type=_positive("token id")
    )
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
    for step in DEMO_MODULES:
        name, _, function = step.partition(":")
        await getattr(importlib.import_module(name), function or "seed")(runtime)
    return True


async def _demo_start(runtime: Runtime, smtp_url: str) -> None:
    """What depends on this start: the mail sink's address, the chat's allowed origin."""
    await importlib.import_module("channels.email.demo").use_smtp(runtime, smtp_url)
    await importlib.import_module("channels.chat.demo").use_base_url(runtime)


def _reset_demo(settings: Settings) -> None:
    """Remove the demo's SQLite database and its kept mail (never a PostgreSQL database)."""
    import shutil

    if not settings.database_url.startswith("sqlite+aiosqlite:///"):
        raise SettingsError("--reset removes only a SQLite database; this one is not")
    database = Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))
    for path in (database, *(Path(f"{database}{end}") for end in ("-wal", "-shm", "-journal"))):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.data_dir / "demo-mail", ignore_errors=True)
    print(f"demo reset: removed {database} and the demo mail")


def demo_settings(settings: Settings, host: str, port: int) -> Settings:
    """The address the demo is served at, unless TRESEN_BASE_URL says another: every link it
    makes (mail, the bot's article links, the demo chat's allowed origin) follows --port."""
    if os.environ.get("TRESEN_BASE_URL"):
        return settings
    return replace(settings, base_url=f"http://{host}:{port}")


def _demo(settings: Settings, args) -> None:
    from tresen.demo_mail import FOLDER, MailSink

    settings.check_secret_key()
    settings = demo_settings(settings, args.host, args.port)
    if args.reset:
        _reset_demo(settings)
    asyncio.run(_migrate(settings))
    seeded = asyncio.run(_with_runtime(settings, _seed_demo))
    sink = MailSink(settings.data_dir / FOLDER)
    sink.start()
    try:
        asyncio.run(_with_runtime(settings, lambda runtime: _demo_start(runtime, sink.smtp_url)))
        base = settings.base_url.rstrip("/")
        print("demo data loaded" if seeded else "demo data was loaded before; keeping it")
        print(f"the console: {base}/, sign in with")
        for email, password, role, _name in DEMO_LOGINS:
            print(f"  {email} / {password}  ({role})")
        print(
            f"the help centre (with the chat widget): {base}/help"
            " (the FAQ bot answers the chat first; ask it for a person to reach an agent;"
            " switch it off under Bots)"
        )
        print(
            f"the customer portal: {base}/portal (sign in as"
            " jonas.mueller@mueller-maschinenbau.example: the link arrives in the demo mail)"
        )
        print(
            f"the demo mail: {base}/demo/mail (signed in as staff): every mail the demo"
            f" sends goes to the local mail server {sink.smtp_url} and is kept there"
        )
        print(
            f"start afresh: `tresen demo --reset` (or remove {settings.data_dir}/ while it is"
            " stopped)"
        )
        sys.stdout.flush()
        _serve(settings, args.host, args.port, demo_mail=sink)
    finally:
        sink.stop()


def _serve(settings: Settings, host: str, port: int, workers: int = 1, demo_mail=None) -> None:
    import uvicorn

    settings.check_secret_key()
    # Live updates go to many sockets at once: compressing each copy separately would cost
    # more CPU than the few kilobytes of HTML it saves.
    # No socket frame is large: the console sends form values, the chat widget frames of
    # at most 16 KiB (it answers larger ones with an error); past 1 MB the socket closes.
    options = {
        "host": host,
        "port": port,
        "ws_per_message_deflate": False,
        "ws_max_size": 1024 * 1024,
    }
    # X-Forwarded-For names the client (for sign-in throttles and rate limits) only when a
    # trusted proxy sent it.
    proxies = settings.forwarded_allow_ips
    if proxies.strip().lower() in ("", "none"):
        proxies = ""
    options.update(proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
    if workers > 1:
        uvicorn.run("tresen.app:create_app", factory=True, workers=workers, **options)
    else:
        from tresen.app import create_app

        app = create_app(settings)
        # The demo's mail page shows what its sink keeps (agent_ui/demo_mail.py).
        app.state.demo_mail = demo_mail
        uvicorn.run(app, log_level="info", **options)


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
            if args.forwarded_allow_ips is not None:
                os.environ["TRESEN_FORWARDED_ALLOW_IPS"] = args.forwarded_allow_ips
                settings = replace(settings, forwarded_allow_ips=args.forwarded_allow_ips)
            _serve(settings, args.host, args.port, args.workers)
        elif args.command == "demo":
            _demo(settings, args)
        elif args.command == "users":
            _users(args, settings)
        elif args.command in room_commands:
            return room_commands[args.command].run(args, settings, _with_runtime)
        elif args.command == "tokens":
            _tokens(args, settings)
    except (AccountConflict, SettingsError) as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 1
    except AccountError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    return 0


def _run(settings: Settings, action, *args, **kwargs):
    """Run one accounts action on its own runtime."""
    return asyncio.run(_with_runtime(settings, lambda runtime: action(runtime, *args, **kwargs)))


def _users(args, settings: Settings) -> None:
    if args.action == "create":
        if args.password_file is not None:
            args.password = _password_from(args.password_file)
        password = args.password or secrets.token_urlsafe(12)
        user = _run(
            settings,
            create_user,
            email=args.email,
            name=args.name,
            role=args.role,
            password=password,
        )
        print(f"created {user.role} {user.email} (id {user.id})")
        if not args.password:
            print(f"password: {password}")
    elif args.action == "list":
        for user in _run(settings, accounts.list_users):
            state = "active" if user.active else "deactivated"
            print(f"{user.id}\t{user.email}\t{user.role}\t{state}\t{user.name}")
    elif args.action == "set-role":
        _run(settings, accounts.set_role, args.email, args.role)
        print(f"{args.email} is now {args.role}")
    elif args.action == "invite":
        print(_run(settings, _invite, args.email, args.name, args.role, settings.base_url))
    elif args.action == "set-password":
        _run(settings, accounts.set_password, args.email, _new_password(args.password_file))
        print(f"password of {args.email} changed; their sessions have ended")
    else:
        action, done = {
            "deactivate": (accounts.deactivate_user, "deactivated"),
            "reactivate": (accounts.reactivate_user, "reactivated"),
            "sign-out": (accounts.sign_out_everywhere, "signed out everywhere"),
        }[args.action]
        _run(settings, action, args.email)
        print(f"{args.email} {done}")


async def _invite(runtime: Runtime, email: str, name: str, role: str, base_url: str) -> str:
    """A new user and their link to set a password (tresen/invites.py)."""
    from tresen import invites

    async with runtime.transaction() as tx:
        user, token = await invites.invite_user(tx, email=email, name=name, role=role)
    return (
        f"invited {user.role} {user.email} (id {user.id}); the link works once, for "
        f"{invites.INVITE_DAYS} days:\n{invites.invite_link(base_url, token)}"
    )


def _password_from(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").partition("\n")[0].rstrip("\r")
    except (OSError, UnicodeDecodeError) as error:
        raise AccountError(f"password file {str(path)!r} cannot be read: {error}") from None


def _new_password(path: Path | None) -> str:
    """From the file's first line, else asked twice (never an argument: `ps` shows those)."""
    if path is not None:
        return _password_from(path)
    password = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != password:
        raise AccountError("the two passwords differ")
    return password


def _tokens(args, settings: Settings) -> None:
    if args.action == "create":
        token = _run(
            settings,
            create_token,
            args.email,
            name=args.name,
            expires_days=args.expires_days,
            scopes=args.scope,
        )
        print(token)
    elif args.action == "list":
        now = datetime.now(UTC)
        for token in _run(settings, accounts.list_tokens, args.email):
            expired = token.expires_at is not None and token.expires_at <= now
            state = "revoked" if token.revoked else "expired" if expired else "active"
            print(
                "\t".join(
                    [
                        str(token.id),
                        token.email,
                        token.name or "-",
                        ",".join(token.scopes) or "-",
                        state,
                        f"created {_when(token.created_at)}",
                        f"expires {_when(token.expires_at, 'never')}",
                        f"used {_when(token.last_used_at, 'never')}",
                    ]
                )
            )
    elif args.action == "revoke":
        _run(settings, accounts.revoke_token, args.id)
        print(f"token {args.id} revoked")


def _when(moment: datetime | None, otherwise: str = "") -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else otherwise


if __name__ == "__main__":
    sys.exit(main())
