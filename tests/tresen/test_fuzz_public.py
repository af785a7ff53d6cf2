"""Property-based fuzzing of the app's routes: no input from outside may give a 5xx.

The routes are enumerated from the app itself (`app.routes`, the API's declared operations),
so a route added later is fuzzed without anyone listing it. Every route is called with
hostile ids in its path (anonymous, and as a signed-in administrator with a console session
and a bearer token); every query parameter the API declares, and the console's, with hostile
text; every public JSON endpoint with hostile bodies. Hostile means: NUL, lone surrogates
(percent-encoded as the UTF-8 bytes they would be, raw in JSON), "²" and "①" (isdigit()
but not int()), 20-digit numbers, 200,000 nested brackets, empty, and very long strings.

Hypothesis generates the examples (derandomized, no example database, so a run is
repeatable); the requests go through the test's own client on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import traceback
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from tests.fixtures import csrf_of, inbound_mail, sign_in
from tresen import rooms
from tresen.accounts import create_token, create_user
from tresen.api import PREFIX, PUBLIC
from tresen.settings import Settings

# Ids a path or a query may carry: the largest id (PostgreSQL's INTEGER), one past it, past
# int64, 18 and 20 digits, zero.
HOSTILE_IDS = [
    "2147483647",
    "2147483648",
    "9223372036854775808",
    "999999999999999999",
    "12345678901234567890",
    "0",
]
HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "²",
    "①",
    "٣",  # an Arabic-Indic three: isdigit(), int() takes it, a regex [0-9] does not
    "-1",
    "1.5",
    "1e400",
    "NaN",
    *HOSTILE_IDS,
    "[" * 5000,
    "%",
    "%00",
    "\\",
    "'\"",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\u202e",
    "🙂",
    "x" * 5000,
    "a" * 60_000,  # more than SQLite's LIKE pattern limit (50,000 bytes)
]
# The worst of them, each given to every declared query parameter and public form field (the
# rest come at random).
WORST = [
    "\x00",
    "\ud800",
    "²",
    "٣",
    "-1",
    "2147483648",
    "12345678901234567890",
    "[" * 5000,
    "a" * 60_000,
]
# Query parameters the console reads (the API's come from its declared operations).
CONSOLE_QUERY = [
    "q",
    "queue",
    "assignee",
    "customer",
    "organization",
    "state",
    "priority",
    "sla",
    "tag",
    "channel",
    "sort",
    "cursor",
    "view",
    "lang",
    "macro",
    "next",
    "translation_of",
    "saved",
    "thanks",
    "audience",
    "limit",
    "days",
]
# Console pages whose query parameters each get every hostile value (the others get random
# ones): the ticket list, search, the help centre, the knowledge base.
SEARCHED_PAGES = {
    "/": [
        "q",
        "queue",
        "assignee",
        "customer",
        "organization",
        "state",
        "priority",
        "sla",
        "tag",
        "channel",
        "sort",
        "cursor",
        "view",
    ],
    "/search": ["q"],
    "/help": ["q", "lang"],
    "/kb": ["q", "lang"],
}
# Form fields the console's forms read (a random few go with each POST).
FORM_FIELDS = [
    "ids",
    "state",
    "priority",
    "queue_id",
    "assignee_id",
    "organization_id",
    "tags",
    "tag",
    "text",
    "name",
    "other",
    "macro",
    "verdict",
    "restore",
    "translation_of",
    "title",
    "body",
    "language",
    "keywords",
    "number",
    "target",
    "capacity",
    "calendar_id",
    "sla_policy_id",
    "agents",
    "position",
    "days",
    "email",
    "password",
    "next",
    "helpful",
    "comment",
]
# The public forms, each field of them given each of the WORST values (anonymously).
PUBLIC_FORMS = {
    # (each login costs a password hash: the e-mail address only, the rest come at random)
    "/login": {"email": "kim@example.com"},
    "/help/drucker": {"helpful": "yes", "comment": "Danke"},
}
# POST routes a fuzzer must not call with a session it still needs.
NOT_FUZZED = {"/logout"}

text_values = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs", "Cc", "No", "Nd"]), max_size=8),
    st.from_regex(r"-?[0-9]{15,25}", fullmatch=True),
    st.integers().map(str),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    text_values,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_values, inner, max_size=3),
    max_leaves=8,
)
# Bodies no model can take: not JSON, not an object, not UTF-8, nested past any stack.
BAD_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"1e400",
    b"NaN",
    b"\xff\xfe",
    b'{"a": NaN}',
    b'{"text": "\\ud800"}',
    b"[" * 200_000,
    b'{"a":' * 100_000,
    b"{" + b'"x": 1,' * 10 + b"}",
]

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # every 5xx is collected; no shrinking
    suppress_health_check=list(HealthCheck),
)


def encode(value: str) -> str:
    """A query or path value as percent-encoded UTF-8; a lone surrogate as the bytes it would
    be (a server must cope with the invalid UTF-8 it then receives)."""
    return quote(value, safe="", errors="surrogatepass")


def query_string(params: dict[str, str]) -> str:
    return "&".join(f"{encode(name)}={encode(value)}" for name, value in params.items())


def fill_path(route: Route, values: dict[str, str]) -> str:
    path = route.path
    for name in route.param_convertors:
        value = encode(values[name])
        path = re.sub(rf"\{{{name}(:\w+)?\}}", lambda _match, value=value: value, path)
    assert "{" not in path, path
    return path


def http_routes(app) -> list[Route]:
    return [route for route in app.routes if isinstance(route, Route)]


class Fuzzer:
    """Sends requests from Hypothesis' thread on the test's event loop; collects every 5xx."""

    def __init__(self, loop, anonymous, staff, headers, visitor_headers) -> None:
        self.loop = loop
        self.anonymous = anonymous
        self.staff = staff
        self.headers = headers
        self.visitor_headers = visitor_headers
        self.problems: list[str] = []
        self.sent = 0

    async def send(self, who: str, method: str, url: str, **kwargs) -> None:
        client = self.staff if who == "staff" else self.anonymous
        mine = self.headers if who == "staff" else self.visitor_headers
        headers = {**mine, **kwargs.pop("headers", {})}
        self.sent += 1
        try:
            answer = await client.request(method, url, headers=headers, **kwargs)
        except Exception as error:  # noqa: BLE001 - the app raised: that is the 500
            where = traceback.extract_tb(error.__traceback__)[-1]
            self.problems.append(
                f"{who} {method} {url[:120]}: {type(error).__name__}: {str(error)[:200]} "
                f"({where.filename}:{where.lineno})"
            )
            return
        if answer.status_code >= 500:
            self.problems.append(
                f"{who} {method} {url[:120]}: {answer.status_code} {answer.text[:200]}"
            )

    def blocking(self, who: str, method: str, url: str, **kwargs) -> None:
        asyncio.run_coroutine_threadsafe(self.send(who, method, url, **kwargs), self.loop).result()

    def assert_no_5xx(self) -> None:
        assert not self.problems, f"{len(self.problems)} of {self.sent} answered 5xx:\n" + (
            "\n".join(sorted(set(self.problems))[:40])
        )


@pytest.fixture(name="settings")
def settings_with_raised_limits(database_url, tmp_path) -> Settings:
    """The suite's settings with the public rate limits raised (not turned off): a fuzzer
    sends more from one address in a minute than a visitor may, and a 429 would hide what
    the request behind it does."""
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key",
        public_searches_per_minute=100_000,
        public_votes_per_minute=100_000,
        public_pages_per_minute=100_000,
        sign_ins_per_minute=100_000,
    )


@pytest.fixture
async def fuzzer(app, runtime):
    """An anonymous client, and an administrator signed in to the console with a token too,
    on a desk with a ticket, a customer and a public article (so ids also exist)."""
    await create_user(
        runtime, email="admin@example.com", name="Ada Admin", role="admin", password="pw-admin-1"
    )
    token = await create_token(runtime, "admin@example.com", scopes=("integration",))
    await rooms.deliver(runtime, inbound_mail("<fuzz-seed@example.com>"))
    transport = httpx.ASGITransport(app=app)
    base = "http://testserver"
    async with (
        httpx.AsyncClient(transport=transport, base_url=base) as anonymous,
        httpx.AsyncClient(transport=transport, base_url=base) as staff,
    ):
        await sign_in(staff, "admin@example.com", "pw-admin-1")
        headers = {"Authorization": f"Bearer {token}"}
        article = await staff.post(
            f"{PREFIX}/kb/articles",
            headers=headers,
            json={
                "title": "Drucker",
                "body": "Neu starten.",
                "language": "de",
                "visibility": "public",
            },
        )
        assert article.status_code == 201, article.text
        csrf = csrf_of((await staff.get("/")).text)
        # A visitor has a session too (the login page's), so public forms get past CSRF.
        visitor_csrf = csrf_of((await anonymous.get("/login")).text)
        yield Fuzzer(
            asyncio.get_running_loop(),
            anonymous,
            staff,
            {**headers, "X-CSRF-Token": csrf},
            {"X-CSRF-Token": visitor_csrf},
        )


async def test_every_id_in_every_path_as_anyone(app, fuzzer):
    """Each route with an id in its path, each method, with ids at and past the 64-bit limit:
    404, 401, 403 or a redirect, never a 5xx (a 20-digit id was a 500 on about 52 routes)."""
    for route in http_routes(app):
        if route.path in NOT_FUZZED or not route.param_convertors:
            continue
        for ident in HOSTILE_IDS:
            values = {name: ident for name in route.param_convertors}
            url = fill_path(route, values)
            for method in sorted(route.methods - {"HEAD"}):
                for who in ("anonymous", "staff"):
                    body = {"json": {}} if url.startswith(PREFIX) else {"data": {}}
                    await fuzzer.send(who, method, url, **(body if method != "GET" else {}))
    fuzzer.assert_no_5xx()
    # Past 18 digits a path is no id: the route does not match (404), nothing is looked up.
    answer = await fuzzer.staff.get("/tickets/12345678901234567890")
    assert answer.status_code == 404


def _get_routes(app) -> list[Route]:
    return [r for r in http_routes(app) if "GET" in r.methods and r.path not in NOT_FUZZED]


def _declared_query() -> dict[str, list[str]]:
    """The query parameters each API GET operation declares, by route path."""
    declared: dict[str, list[str]] = {}
    for router in rooms.api_routers():
        for operation in router.operations:
            if operation.method == "GET":
                declared[PREFIX + operation.path] = list(operation.query)
    return declared


async def test_every_query_parameter_of_every_page_and_list(app, fuzzer):
    """Every GET route with random hostile values for its query parameters, as an anonymous
    visitor and as a signed-in administrator."""
    declared = _declared_query()
    # The API's routes take what they declare (an undeclared one is ignored: try "limit");
    # the console's pages any name the console reads.
    by_path = {
        route.path: declared.get(route.path) or ["limit"]
        if route.path.startswith(PREFIX)
        else CONSOLE_QUERY
        for route in _get_routes(app)
    }
    routes = _get_routes(app)

    @st.composite
    def requests(draw):
        route = draw(st.sampled_from(routes))
        values = {
            name: draw(st.sampled_from(["1", *HOSTILE_IDS])) for name in route.param_convertors
        }
        names = by_path[route.path]
        params = draw(st.dictionaries(st.sampled_from(names), text_values, min_size=1, max_size=4))
        who = draw(st.sampled_from(["anonymous", "staff"]))
        return who, f"{fill_path(route, values)}?{query_string(params)}"

    @FUZZ
    @given(requests())
    def check(request):
        who, url = request
        fuzzer.blocking(who, "GET", url)

    await asyncio.to_thread(check)
    # And each parameter the API declares, and the console's on its lists and searches,
    # once with each hostile value, so none is left to chance.
    for path, names in {**declared, **SEARCHED_PAGES}.items():
        if "{" in path:
            continue
        for name in names:
            for value in WORST:
                await fuzzer.send("staff", "GET", f"{path}?{query_string({name: value})}")
    fuzzer.assert_no_5xx()


def _public_operations():
    return [
        (operation.method, PREFIX + operation.path, operation.body)
        for router in rooms.api_routers()
        for operation in router.operations
        if operation.role == PUBLIC
    ]


async def test_every_public_endpoint_with_hostile_bodies(fuzzer):
    """Each public API operation (and the help centre's and login's forms) with hostile JSON
    or form bodies, anonymously: 4xx (or 2xx), never a 5xx."""
    operations = _public_operations()
    assert operations, "the API declares public operations"

    def url_of(path: str, ident: str = "1") -> str:
        return path.replace("{article_id:int}", ident)

    for method, path, _body in operations:
        for raw in BAD_BODIES:
            headers = {"Content-Type": "application/json"}
            await fuzzer.send("anonymous", method, url_of(path), content=raw, headers=headers)

    @st.composite
    def bodies(draw):
        method, path, model = draw(st.sampled_from(operations))
        fields = list(model.model_fields) if model else ["text"]
        body = draw(st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields)))
        return method, url_of(path, draw(st.sampled_from(["1", *HOSTILE_IDS]))), body

    @FUZZ
    @given(bodies())
    def check(request):
        method, url, body = request
        fuzzer.blocking("anonymous", method, url, content=json.dumps(body).encode())

    await asyncio.to_thread(check)
    fuzzer.assert_no_5xx()


async def test_every_console_form_with_hostile_fields(app, fuzzer):
    """Every console POST route (with a valid CSRF token, as an administrator), and the
    public forms (login, help centre feedback, also anonymously), with random hostile form
    fields; then each public form's fields with each of the worst values."""
    routes = [
        route
        for route in http_routes(app)
        if "POST" in route.methods
        and route.path not in NOT_FUZZED
        and not route.path.startswith(PREFIX)
    ]
    # A nonexistent id: the fuzzer changes nothing that exists, but reaches the parsing.
    idents = ["2147483647", "1"]

    @st.composite
    def forms(draw):
        route = draw(st.sampled_from(routes))
        values = {
            name: draw(st.sampled_from(idents if name.endswith("id") else ["drucker", "\x00"]))
            for name in route.param_convertors
        }
        fields = draw(st.lists(st.tuples(st.sampled_from(FORM_FIELDS), text_values), max_size=5))
        public = route.path == "/login" or route.path.startswith("/help")
        who = draw(st.sampled_from(["anonymous", "staff"])) if public else "staff"
        return who, fill_path(route, values), fields

    @FUZZ
    @given(forms())
    def check(request):
        who, url, fields = request
        body = "&".join(f"{encode(name)}={encode(value)}" for name, value in fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        fuzzer.blocking(who, "POST", url, content=body.encode(), headers=headers)

    await asyncio.to_thread(check)
    for path, form in PUBLIC_FORMS.items():
        for name in form:
            for value in WORST:
                fields = {**form, name: value}
                body = "&".join(f"{encode(k)}={encode(v)}" for k, v in fields.items())
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                await fuzzer.send("anonymous", "POST", path, content=body.encode(), headers=headers)
    fuzzer.assert_no_5xx()


def _operations_with_bodies():
    return [
        (operation.method, PREFIX + operation.path, operation.body)
        for router in rooms.api_routers()
        for operation in router.operations
        if operation.body is not None
    ]


DATES = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "2026-01-01T00:00:00Z"]


def values_for(schema: dict, defs: dict, depth: int = 0):
    """Values of the schema's type (so the body gets past the types into the actions), with
    hostile ones among them: ids past the column, NUL, lone surrogates, dates out of range."""
    if "$ref" in schema:
        return values_for(defs[schema["$ref"].rsplit("/", 1)[1]], defs, depth)
    if "anyOf" in schema:
        return st.one_of([values_for(option, defs, depth) for option in schema["anyOf"]])
    if "enum" in schema or "const" in schema:
        return st.sampled_from(schema.get("enum") or [schema.get("const")]) | text_values
    kind = schema.get("type")
    if kind == "integer":
        return st.sampled_from([1, 0, -1, 2**31 - 1, 2**31, 2**63, 10**19]) | st.integers()
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -1e308])
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.sampled_from(DATES) | text_values if schema.get("format") else text_values
    if kind == "array" and depth < 3:
        items = schema.get("prefixItems") or [schema.get("items", {})]
        if schema.get("prefixItems"):
            return st.tuples(*[values_for(item, defs, depth + 1) for item in items]).map(list)
        return st.lists(values_for(items[0], defs, depth + 1), max_size=3)
    if kind == "object" and depth < 3:
        properties = schema.get("properties")
        if properties:
            required = set(schema.get("required", []))
            strategies = {
                name: values_for(sub, defs, depth + 1) for name, sub in properties.items()
            }
            return st.fixed_dictionaries(
                {name: strategies[name] for name in required},
                optional={name: strategies[name] for name in properties if name not in required},
            )
        inner = schema.get("additionalProperties")
        inner = values_for(inner, defs, depth + 1) if isinstance(inner, dict) else json_values
        return st.dictionaries(text_values, inner, max_size=3)
    return json_values


async def test_every_api_body_with_hostile_fields_as_an_administrator(fuzzer):
    """Each API operation that takes a body, with a token that may do everything: bodies of
    the model's shape whose values are hostile (ids past the column, NUL, lone surrogates,
    dates out of range, huge numbers). A 4xx (or 2xx) names what was wrong; a 5xx is a bug."""
    operations = []
    for method, path, model in _operations_with_bodies():
        schema = model.model_json_schema(by_alias=True)
        operations.append((method, path, values_for(schema, schema.get("$defs", {}))))

    @st.composite
    def bodies(draw):
        method, path, body = draw(st.sampled_from(operations))
        route = Route(path, lambda request: None)
        idents = ["1", "2147483647"]
        values = {name: draw(st.sampled_from(idents)) for name in route.param_convertors}
        return method, fill_path(route, values), draw(body)

    @settings(FUZZ, max_examples=400)
    @given(bodies())
    def check(request):
        method, url, body = request
        fuzzer.blocking("staff", method, url, content=json.dumps(body).encode())

    await asyncio.to_thread(check)
    fuzzer.assert_no_5xx()
