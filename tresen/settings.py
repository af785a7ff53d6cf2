"""The one settings object, read from TRESEN_* environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Signs the session cookies and derives the key that seals the channels' secrets: shorter
# keys are refused at start (`secrets.token_urlsafe(48)` makes a good one).
MIN_SECRET_KEY_LENGTH = 32


class SettingsError(ValueError):
    """A setting has a value Tresen cannot use; the message names it."""


def _logo_url(raw: str, base_url: str) -> str:
    """TRESEN_COMPANY_LOGO_URL: a path on this server or a data: image (the pages'
    Content-Security-Policy shows images of this origin only), or a URL of this origin."""
    origin = "/".join(base_url.strip().rstrip("/").split("/")[:3]).lower()
    lowered = raw.lower()
    own_path = raw.startswith("/") and not raw.startswith("//") and "\\" not in raw
    own_origin = lowered.startswith(("http://", "https://")) and (
        lowered == origin or lowered.startswith(origin + "/")
    )
    if not raw or own_path or own_origin or lowered.startswith("data:image/"):
        return raw
    raise SettingsError(
        f"TRESEN_COMPANY_LOGO_URL={raw!r} is not a path on this server (e.g. "
        "/static/logo.png) or a data:image/ URL: the pages' Content-Security-Policy shows "
        "no images from other sites"
    )


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    default_phone_region: str = "DE"
    ticket_number_start: int = 10000
    # Send the session cookie over https only; None: when the base URL is https.
    secure_cookies: bool | None = None
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, "*" for any; "none": the peer is always the client). The
    # default believes a proxy on this machine, as uvicorn does: without it, every client
    # of a local nginx would share one address (and could block each other's sign-ins).
    forwarded_allow_ips: str = "127.0.0.1"
    sql_echo: bool = False
    # A customer's reply to a closed ticket: "follow_up" opens a new linked ticket,
    # "reopen" puts the closed ticket back to open.
    reply_to_closed: str = "follow_up"
    # The language of automatic mail to customers whose language is not known.
    default_language: str = "de"
    # At most this many automatic mails (acknowledgements) to one address per hour.
    auto_replies_per_hour: int = 3
    # ... and this many to all addresses together: forged senders cannot make the desk's
    # server mail the world in the company's name.
    auto_replies_total_per_hour: int = 200
    # Run background work (outbox delivery, mail fetching) in this server process.
    background: bool = True
    # A customer's next message on a conversational channel (SMS, WhatsApp, ...) continues
    # their ticket this long after their last message; later, it opens a new one.
    conversation_hours: float = 24.0
    # The channels' own settings ("email.smtp_port": 2525), see tresen.channel.ChannelOption;
    # an option not given here has the channel's default.
    channel_options: Mapping[str, Any] = field(default_factory=dict)
    # The languages routing tells apart in customers' messages (ISO 639-1).
    languages: tuple[str, ...] = ("de", "en")
    # The trained intent model (`tresen routing train`); None: data_dir/intent-model.
    intent_model: Path | None = None
    # Below this confidence the intent classifier predicts nothing.
    intent_threshold: float = 0.5
    # Rank knowledge base suggestions with sentence embeddings when the `semantic` extra
    # is installed (TRESEN_SEMANTIC=false: lexical ranking only).
    semantic: bool = True

    # --- Request limits (tresen/limits.py): requests per minute from one client address
    # on the public doors (0: no limit), and how many addresses are remembered at most.
    public_searches_per_minute: int = 60
    public_votes_per_minute: int = 10
    public_pages_per_minute: int = 300
    sign_ins_per_minute: int = 20
    rate_limit_addresses: int = 20_000
    # The live chat: sockets a client address may open per minute, messages (and files) a
    # visitor may send per minute.
    chat_connections_per_minute: int = 60
    chat_messages_per_minute: int = 30
    # Open chat sockets from one client address at once (per server process; 0: no limit).
    chat_sockets_per_address: int = 200

    # --- Live chat
    # An offered chat goes to the next agent when not accepted within this many seconds.
    chat_offer_seconds: int = 30
    # Chats at once for an agent whose profile sets no chat capacity.
    chat_default_capacity: int = 3
    # A visitor not seen for this long has left: a reply then goes by e-mail if known.
    chat_away_seconds: int = 90

    # --- Customer portal (portal/)
    # The company's name and logo (an image URL) in the portal's header and its mail.
    company_name: str = "Tresen"
    company_logo_url: str = ""
    # A portal sign-in link works this many minutes, once.
    portal_link_minutes: int = 15
    # At most this many sign-in links to one address per hour (more are not sent).
    portal_links_per_hour: int = 5
    # A customer may reopen their solved or closed ticket in the portal this many days after
    # it was solved (0: never).
    portal_reopen_days: int = 14
    # The queues a customer may choose for a new request in the portal, by name (none: the
    # portal asks for no queue and routing decides, as for every channel).
    portal_queues: tuple[str, ...] = ()
    # Satisfaction (CSAT): the rating link in the solved mail works this many days; a score
    # of this or lower (1-5) notifies the queue's supervisors (0: never).
    csat_link_days: int = 30
    csat_low_score: int = 2

    # --- Data rights (customers/erasure.py): an erased customer's tickets are kept for the
    # statistics without personal data ("anonymize") or deleted with the record ("delete").
    erasure_mode: str = "anonymize"

    @property
    def intent_model_path(self) -> Path:
        return self.intent_model or self.data_dir / "intent-model"

    def option(self, channel: str, name: str) -> Any:
        """A channel's setting, e.g. settings.option("email", "smtp_port")."""
        key = f"{channel}.{name}"
        if key in self.channel_options:
            return self.channel_options[key]
        from tresen.channel import option_default

        return option_default(channel, name)

    @property
    def https(self) -> bool:
        """The desk is reached over https (its base URL says so)."""
        return self.base_url.lower().startswith("https://")

    @property
    def cookies_secure(self) -> bool:
        return self.https if self.secure_cookies is None else self.secure_cookies

    def check_secret_key(self) -> None:
        """Refuse to serve with a short secret key: it would make cookies forgeable."""
        if len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError(
                f"TRESEN_SECRET_KEY has {len(self.secret_key)} characters; it needs at least "
                f"{MIN_SECRET_KEY_LENGTH} (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Read settings from the environment; a generated secret key is kept in data_dir."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(overrides.pop("data_dir", env.get("TRESEN_DATA_DIR", "var")))
        database_url = overrides.pop("database_url", env.get("TRESEN_DATABASE_URL", ""))
        if not database_url:
            database_url = f"sqlite+aiosqlite:///{(data_dir / 'tresen.sqlite3').resolve()}"
        database_url = normalize_database_url(database_url)
        ticket_number_start = _int(
            "TRESEN_TICKET_NUMBER_START", env.get("TRESEN_TICKET_NUMBER_START", "10000")
        )
        reply_to_closed = env.get("TRESEN_REPLY_TO_CLOSED", "follow_up")
        if reply_to_closed not in ("follow_up", "reopen"):
            raise SettingsError(
                f"TRESEN_REPLY_TO_CLOSED={reply_to_closed!r} is not follow_up or reopen"
            )
        default_language = env.get("TRESEN_DEFAULT_LANGUAGE", "de").lower()
        if default_language not in ("de", "en"):
            raise SettingsError(f"TRESEN_DEFAULT_LANGUAGE={default_language!r} is not de or en")
        languages = tuple(
            code.strip().lower()
            for code in env.get("TRESEN_LANGUAGES", "de,en").split(",")
            if code.strip()
        )
        bad = [code for code in languages if len(code) != 2 or not code.isalpha()]
        if bad or len(languages) < 2:
            raise SettingsError(
                f"TRESEN_LANGUAGES={env.get('TRESEN_LANGUAGES')!r} is not two or more "
                "ISO 639-1 codes, e.g. de,en"
            )
        threshold = env.get("TRESEN_INTENT_THRESHOLD", "0.5")
        try:
            intent_threshold = float(threshold)
        except ValueError:
            intent_threshold = -1.0
        if not 0 <= intent_threshold <= 1:
            raise SettingsError(f"TRESEN_INTENT_THRESHOLD={threshold!r} is not between 0 and 1")
        hours = env.get("TRESEN_CONVERSATION_HOURS", "24")
        try:
            conversation_hours = float(hours)
        except ValueError:
            conversation_hours = -1.0
        if not 0 < conversation_hours <= 24 * 365:
            raise SettingsError(
                f"TRESEN_CONVERSATION_HOURS={hours!r} is not a number of hours above 0"
            )
        erasure_mode = env.get("TRESEN_ERASURE", "anonymize").strip().lower() or "anonymize"
        if erasure_mode not in ("anonymize", "delete"):
            raise SettingsError(f"TRESEN_ERASURE={erasure_mode!r} is not anonymize or delete")
        from tresen.channel import option_values

        try:
            channel_options = option_values(env)
        except ValueError as error:
            raise SettingsError(str(error)) from None
        values = dict(
            data_dir=data_dir,
            conversation_hours=conversation_hours,
            channel_options=channel_options,
            languages=languages,
            intent_model=Path(env["TRESEN_INTENT_MODEL"])
            if env.get("TRESEN_INTENT_MODEL")
            else None,
            intent_threshold=intent_threshold,
            reply_to_closed=reply_to_closed,
            erasure_mode=erasure_mode,
            default_language=default_language,
            auto_replies_per_hour=_int(
                "TRESEN_AUTO_REPLIES_PER_HOUR", env.get("TRESEN_AUTO_REPLIES_PER_HOUR", "3")
            ),
            auto_replies_total_per_hour=_int(
                "TRESEN_AUTO_REPLIES_TOTAL_PER_HOUR",
                env.get("TRESEN_AUTO_REPLIES_TOTAL_PER_HOUR", "200"),
            ),
            database_url=database_url,
            secret_key=env.get("TRESEN_SECRET_KEY", ""),
            base_url=env.get("TRESEN_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            default_phone_region=env.get("TRESEN_PHONE_REGION", "DE").upper(),
            ticket_number_start=ticket_number_start,
            secure_cookies=_bool("TRESEN_SECURE_COOKIES", env["TRESEN_SECURE_COOKIES"])
            if env.get("TRESEN_SECURE_COOKIES", "").strip()
            else None,
            forwarded_allow_ips=env.get("TRESEN_FORWARDED_ALLOW_IPS", "127.0.0.1").strip(),
            sql_echo=_bool("TRESEN_SQL_ECHO", env.get("TRESEN_SQL_ECHO", "")),
            background=_bool("TRESEN_BACKGROUND", env.get("TRESEN_BACKGROUND", "true")),
            semantic=_bool("TRESEN_SEMANTIC", env.get("TRESEN_SEMANTIC", "true")),
            company_name=env.get("TRESEN_COMPANY_NAME", "Tresen").strip() or "Tresen",
            company_logo_url=_logo_url(
                env.get("TRESEN_COMPANY_LOGO_URL", "").strip(),
                env.get("TRESEN_BASE_URL", "http://127.0.0.1:8000"),
            ),
            portal_queues=tuple(
                name.strip()
                for name in env.get("TRESEN_PORTAL_QUEUES", "").split(",")
                if name.strip()
            ),
            **_request_limits(env),
        )
        values.update(overrides)
        settings = cls(**values)
        if not settings.secret_key:
            settings = _with_stored_secret(settings)
        return settings


def normalize_database_url(url: str) -> str:
    """Map plain URLs to their async drivers; reject what Tresen cannot use."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///")):
        return url
    raise SettingsError(
        f"TRESEN_DATABASE_URL={url!r} is not supported "
        "(use sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB)"
    )


def _with_stored_secret(settings: Settings) -> Settings:
    """Generate the secret key on first run and keep it, so sessions survive restarts."""
    path = settings.data_dir / "secret_key"
    if path.exists():
        key = path.read_text().strip()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # Created with owner-only permissions before the key is written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    return Settings(**{**settings.__dict__, "secret_key": key})


# --- Request limits (tresen/limits.py) ---
_REQUEST_LIMITS = (
    "public_searches_per_minute",
    "public_votes_per_minute",
    "public_pages_per_minute",
    "sign_ins_per_minute",
    "rate_limit_addresses",
    "chat_connections_per_minute",
    "chat_messages_per_minute",
    "chat_sockets_per_address",
    "chat_offer_seconds",
    "chat_default_capacity",
    "chat_away_seconds",
    "portal_link_minutes",
    "portal_links_per_hour",
    "portal_reopen_days",
    "csat_link_days",
    "csat_low_score",
)


def _request_limits(env: Mapping[str, str]) -> dict[str, int]:
    """TRESEN_PUBLIC_SEARCHES_PER_MINUTE and the others, as given; defaults where not."""
    values = {}
    for name in _REQUEST_LIMITS:
        key = f"TRESEN_{name.upper()}"
        if env.get(key, "").strip():
            values[name] = _int(key, env[key].strip())
            if values[name] < 0:
                raise SettingsError(f"{key}={env[key]!r} is below 0")
    return values
