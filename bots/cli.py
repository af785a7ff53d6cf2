"""`tresen bots rasa-actions --port 5055`: Tresen's actions for a Rasa assistant, served by
rasa-sdk's action server from its own virtual environment (`.venv-rasa`).

rasa-sdk pins versions Tresen's own environment cannot take (websockets<16, an exact
pydantic), so its server runs as a process of that environment's Python; the actions
(bots/rasa_actions.py) import only rasa_sdk and the standard library, and call Tresen over
HTTP with an API token.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

COMMAND = "bots"
ROOT = Path(__file__).resolve().parent.parent
ACTIONS_MODULE = "bots.rasa_actions"
INSTALL = "python3 -m venv .venv-rasa && .venv-rasa/bin/pip install rasa-sdk"


def rasa_python(env: dict[str, str] | None = None) -> Path:
    """The Python of the environment rasa-sdk is installed in (TRESEN_RASA_PYTHON)."""
    env = os.environ if env is None else env
    return Path(env.get("TRESEN_RASA_PYTHON") or ROOT / ".venv-rasa" / "bin" / "python")


def add_commands(commands) -> None:
    bots = commands.add_parser(COMMAND, help="bots: Tresen's actions for a Rasa assistant")
    actions = bots.add_subparsers(dest="action", required=True, parser_class=bots.__class__)
    serve = actions.add_parser(
        "rasa-actions",
        help="run the rasa-sdk action server with Tresen's actions (from .venv-rasa)",
    )
    serve.add_argument("--port", type=int, default=5055, help="its port (default 5055)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address it listens on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--tresen-url", help="Tresen's address (default TRESEN_URL, else TRESEN_BASE_URL)"
    )
    serve.add_argument(
        "--token",
        help="an API token with the integration scope (default TRESEN_API_TOKEN; make one with "
        "`tresen tokens create EMAIL --scope integration`)",
    )


def import_root(settings) -> Path:
    """Where rasa-sdk's Python finds `bots.rasa_actions`: the project (a checkout), else a
    folder holding only a link to `bots` (a site-packages folder on its path would put
    Tresen's versions of pydantic and websockets before rasa-sdk's own)."""
    if (ROOT / "pyproject.toml").exists():
        return ROOT
    folder = Path(settings.data_dir) / "rasa-actions"
    link = folder / "bots"
    if not link.exists():
        folder.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT / "bots", target_is_directory=True)
    return folder


def command_line(args, settings, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The action server's command and environment; ValueError saying what is missing."""
    python = rasa_python(env)
    if not python.exists():
        raise ValueError(
            f"rasa-sdk's environment is missing: no {python}. Install it once with "
            f"`{INSTALL}` in {ROOT} (or set TRESEN_RASA_PYTHON to a Python that has rasa-sdk)"
        )
    if not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port} is not a port")
    token = args.token or env.get("TRESEN_API_TOKEN", "")
    if not token.strip():
        raise ValueError(
            "an API token is needed: `tresen tokens create EMAIL --scope integration`, "
            "then --token or TRESEN_API_TOKEN"
        )
    url = args.tresen_url or env.get("TRESEN_URL") or settings.base_url
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--tresen-url {url!r} is not an http(s) address")
    paths = [str(import_root(settings))]
    paths += [path for path in env.get("PYTHONPATH", "").split(os.pathsep) if path]
    # Tresen's own settings (its secret key, its database) are none of the actions' business.
    child = {
        **{name: value for name, value in env.items() if not name.startswith("TRESEN_")},
        "TRESEN_ASSISTANT_LANGUAGE": env.get("TRESEN_ASSISTANT_LANGUAGE", "en"),
        "SANIC_HOST": args.host,
        "PYTHONPATH": os.pathsep.join(paths),
        "TRESEN_URL": url.rstrip("/"),
        "TRESEN_API_TOKEN": token.strip(),
    }
    argv = [str(python), "-m", "rasa_sdk", "--actions", ACTIONS_MODULE, "-p", str(args.port)]
    return argv, child


def run(args, settings, with_runtime) -> int:
    try:
        argv, env = command_line(args, settings, dict(os.environ))
    except ValueError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    print(f"the action server with Tresen's actions: http://{args.host}:{args.port}/webhook")
    sys.stdout.flush()
    sys.stderr.flush()
    # Its own process image: signals (Ctrl-C, a service manager's stop) reach it directly.
    os.execve(argv[0], argv, env)
    return 0  # not reached
