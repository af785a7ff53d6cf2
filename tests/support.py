"""Test helpers that start real parts: a PostgreSQL cluster, a Tresen server process."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries (pg_ctl) are not installed")
    return Path(candidates[-1]).parent


class PostgresCluster:
    """A throwaway cluster on a free loopback port, owned by the postgres user when root."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tresen-pg-"))
        self.data = self.dir / "data"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"


class ServerProcess:
    """`python -m tresen serve` in a subprocess, as a person would run it."""

    def __init__(
        self, database_url: str, data_dir: Path, secret_key: str = "test-secret-key-" + "k" * 24
    ):
        self.port = free_port()
        self.env = {
            **os.environ,
            "TRESEN_DATABASE_URL": database_url,
            "TRESEN_DATA_DIR": str(data_dir),
            "TRESEN_SECRET_KEY": secret_key,
            "TRESEN_BASE_URL": f"http://127.0.0.1:{self.port}",
        }
        self.log = data_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tresen", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def add_user(self, email: str, password: str, role: str = "agent", name: str = "Agent"):
        """A staff user made with the CLI, as an administrator would."""
        result = self.cli(
            "users", "create", email, "--name", name, "--role", role, "--password", password
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr)

    def start(self, *serve_args: str) -> None:
        data_dir = Path(self.env["TRESEN_DATA_DIR"])
        data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tresen", "serve", "--port", str(self.port), *serve_args],
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        terminate(self.process)


def terminate(process: subprocess.Popen | None) -> None:
    """Stop a process we started: politely, then for good after ten seconds."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def sign_in(base_url: str, email: str, password: str) -> httpx.Client:
    """An HTTP client signed in to the console through the login form."""
    import re

    client = httpx.Client(base_url=base_url, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"login failed: {answer.status_code}")
    return client


class SmtpServer:
    """A real SMTP server (aiosmtpd) that keeps what it receives, for tests to read.

    `refuse[address] = (code, text)` answers RCPT TO for that address with the code
    (e.g. 550 for a permanent, 451 for a temporary refusal).
    """

    def __init__(self, username: str = "tresen", password: str = "smtp-secret") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.port = free_port()
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: dict[str, tuple[int, str]] = {}
        self.username, self.password = username, password
        server = self

        class Handler:
            async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
                if address.lower() in server.refuse:
                    code, text = server.refuse[address.lower()]
                    return f"{code} {text}"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp, session, envelope):
                server.received.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
                )
                return "250 Message accepted"

        def authenticate(smtp, session, envelope, mechanism, auth_data):
            ok = (
                auth_data.login.decode() == server.username
                and auth_data.password.decode() == server.password
            )
            return AuthResult(success=ok, handled=False)

        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
        )

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        if getattr(self, "running", False):
            self.controller.stop()
            self.running = False

    def url(self, password: str | None = None) -> str:
        return f"smtp://{self.username}:{password or self.password}@127.0.0.1:{self.port}"

    def messages(self):
        """What arrived, parsed."""
        import email
        import email.policy

        return [
            email.message_from_bytes(raw, policy=email.policy.default)
            for _f, _t, raw in self.received
        ]


class Dovecot:
    """A real IMAP server (Dovecot) on a free loopback port, with maildirs in a temp dir."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tresen-dovecot-"))
        self.users = users or {"support@tresen.test": "imap-secret"}
        self.process: subprocess.Popen | None = None

    def _config(self) -> str:
        as_root = os.geteuid() == 0
        owner = "mail_uid = nobody\nmail_gid = nogroup\nfirst_valid_uid = 1\n" if as_root else ""
        return f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.dir}/mail/%u
{owner}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/users
}}
userdb {{
  driver = static
  args = home={self.dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

    def start(self) -> None:
        dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(dovecot).exists():
            raise RuntimeError("Dovecot is not installed (apt-get install dovecot-imapd)")
        for name in ("run", "state", "mail", "home"):
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        (self.dir / "users").write_text(
            "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in self.users.items())
        )
        (self.dir / "dovecot.conf").write_text(self._config())
        if os.geteuid() == 0:
            for name in ("mail", "home"):
                shutil.chown(self.dir / name, "nobody", "nogroup")
            os.chmod(self.dir, 0o755)
        self.process = subprocess.Popen(
            [dovecot, "-F", "-c", str(self.dir / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.process.stderr.read().decode()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("dovecot did not start")

    def stop(self) -> None:
        terminate(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, user: str = "support@tresen.test", folder: str = "INBOX") -> str:
        from urllib.parse import quote

        return f"imap://{quote(user)}:{quote(self.users[user])}@127.0.0.1:{self.port}/{folder}"

    async def client(self, user: str = "support@tresen.test"):
        """A logged-in aioimaplib client, for tests to put mail in and look at flags."""
        import aioimaplib

        client = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=10)
        await client.wait_hello_from_server()
        await client.login(user, self.users[user])
        return client

    async def append(self, raw: bytes, folder: str = "INBOX", user: str = "support@tresen.test"):
        client = await self.client(user)
        try:
            result = await client.append(raw, mailbox=folder)
            if result.result != "OK":
                raise RuntimeError(f"APPEND failed: {result}")
        finally:
            await client.logout()


class AsgiSocket:
    """A websocket client speaking ASGI straight to the app: thousands cost little."""

    def __init__(self, app, path: str, cookie: str, origin: str = "http://testserver") -> None:
        self.app = app
        path, _, query = path.partition("?")
        self.scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())]
            + ([(b"origin", origin.encode())] if origin else []),
            "subprotocols": [],
        }
        self.to_app: asyncio.Queue = asyncio.Queue()
        self.from_app: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    async def connect(self) -> dict:
        """The app's answer: websocket.accept, or websocket.close when refused."""
        self.to_app.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.create_task(self.app(self.scope, self.to_app.get, self.from_app.put))
        return await asyncio.wait_for(self.from_app.get(), 10)

    async def receive(self, timeout: float = 10) -> dict:
        return await asyncio.wait_for(self.from_app.get(), timeout)

    async def close(self) -> None:
        self.to_app.put_nowait({"type": "websocket.disconnect", "code": 1000})
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
