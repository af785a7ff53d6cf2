"""REST API v1 plumbing: declared operations, bearer auth, JSON errors, OpenAPI.

Rooms declare their endpoints on an ApiRouter; the same declaration validates
the body, checks the role and documents the operation in /api/v1/openapi.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tresen import auth
from tresen.accounts import TokenRefused, check_token
from tresen.ids import parse_id
from tresen.models import User
from tresen.runtime import ActionError

PREFIX = "/api/v1"
MAX_BODY_BYTES = 40 * 1024 * 1024


class ApiError(Exception):
    """An error answer: status, a reason, and the field it concerns if any."""

    def __init__(self, status: int, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.field = field

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.reason}
        if self.field:
            body["field"] = self.field
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass
class Operation:
    method: str
    path: str
    endpoint: Callable[..., Awaitable[Any]]
    summary: str
    role: str = "agent"
    body: type[BaseModel] | None = None
    query: dict[str, str] = field(default_factory=dict)
    status: int = 200
    # A token scope needed besides the role (e.g. "integration"); None: the role is enough.
    scope: str | None = None


class ApiRouter:
    """A room's API endpoints."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        role: str = "agent",
        body: type[BaseModel] | None = None,
        query: dict[str, str] | None = None,
        status: int = 200,
        scope: str | None = None,
    ):
        """Declare an endpoint: handler(request, user[, body]) returns JSON data or a Response."""

        def decorate(endpoint):
            self.operations.append(
                Operation(
                    method.upper(), path, endpoint, summary, role, body, query or {}, status, scope
                )
            )
            return endpoint

        return decorate


PUBLIC = "public"  # an operation's role when anyone may call it (the user is then None)


async def bearer_user(request: Request, scope: str | None = None) -> User:
    """The user the request's token speaks for; 401 without a valid one, 403 without scope."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    try:
        grant = await check_token(request.app.state.runtime, token.strip())
    except TokenRefused as refused:
        raise ApiError(401, str(refused)) from None
    if await auth.two_factor_missing(request.app.state.runtime, grant.user):
        raise ApiError(403, auth.TWO_FACTOR_REQUIRED)
    if scope is not None and scope not in grant.scopes:
        raise ApiError(
            403,
            f"this needs a token with the {scope} scope "
            f"(tresen tokens create EMAIL --scope {scope})",
        )
    return grant.user


async def parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The JSON body validated against the model; errors name the field."""
    chunks, size = [], 0
    async for chunk in request.stream():  # counted while read: never more than the limit in
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        data = decode_json_object(raw)
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(422, f"{where}: {_message(first)}", field=where) from None


def _message(error: dict) -> str:
    """Pydantic's message, in characters where a string's length is wrong (an optional
    string's own reads "Value should have at least 1 item after validation")."""
    context = error.get("ctx") or {}
    if error["type"] in ("too_short", "too_long") and isinstance(error.get("input"), str):
        if error["type"] == "too_short":
            return f"should have at least {context.get('min_length')} character(s)"
        return f"should have at most {context.get('max_length')} characters"
    return error["msg"]


MAX_JSON_DEPTH = 64


def decode_json_object(raw: bytes) -> dict:
    """A JSON object from outside; ValueError saying why for anything else.

    Refused: what is not JSON or not UTF-8, NaN and Infinity (no column takes them), a
    top level that is not an object, and nesting deeper than MAX_JSON_DEPTH (200,000
    brackets exhausted the decoder's stack: a RecursionError, then a 500).
    """
    try:
        data = json.loads(raw or b"null", parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"body is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise ValueError(f"body is nested more than {MAX_JSON_DEPTH} levels deep")
    return data


def _no_constant(name: str):
    raise ValueError(f"body is not valid JSON: {name} is not a number JSON allows")


def _depth_exceeds(data, limit: int) -> bool:
    """Whether lists and objects nest deeper than limit (without recursion of our own)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        pending += [(c, depth + 1) for c in children if isinstance(c, dict | list)]
    return False


def query_int(request: Request, name: str) -> int | None:
    """A query parameter's id or count (ASCII digits up to an id column's 2,147,483,647);
    else a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    number = parse_id(raw)
    if number is None:
        raise ApiError(400, f"query parameter {name}={raw!r} is not a whole number", name)
    return number


MAX_SEARCH_TEXT = 500


def query_text(request: Request, name: str, max_length: int = MAX_SEARCH_TEXT) -> str | None:
    """A query parameter's text, stripped, None when empty; longer than max_length is a 422
    (a search text past SQLite's LIKE pattern limit, 50,000 bytes, was a 500)."""
    value = (request.query_params.get(name) or "").strip()
    if len(value) > max_length:
        raise ApiError(422, f"query parameter {name} is longer than {max_length} characters", name)
    return value or None


def query_limit(request: Request, default: int = 50, maximum: int = 200) -> int:
    limit = query_int(request, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise ApiError(400, f"query parameter limit must be between 1 and {maximum}", "limit")
    return limit


def _endpoint(operations: dict[str, Operation]):
    async def dispatch(request: Request) -> Response:
        operation = operations[request.method]
        try:
            if operation.role == PUBLIC:
                # Anyone (customers, bots); a staff member's token still says who asks.
                has_token = bool(request.headers.get("authorization"))
                user = await bearer_user(request) if has_token else None
            else:
                user = await bearer_user(request, operation.scope)
            if operation.role != PUBLIC and not user.has_role(operation.role):
                raise ApiError(403, f"this needs the {operation.role} role")
            args = [request, user]
            if operation.body is not None:
                args.append(await parse_body(request, operation.body))
            result = await operation.endpoint(*args)
        except ApiError as error:
            return error.response()
        except ActionError as error:
            status = 403 if error.forbidden else 409 if error.conflict else 422
            return ApiError(status, str(error), error.field).response()
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=operation.status)

    return dispatch


def build_routes(routers: list[ApiRouter]) -> list[Route]:
    by_path: dict[str, dict[str, Operation]] = {}
    for router in routers:
        for operation in router.operations:
            by_path.setdefault(operation.path, {})[operation.method] = operation
    return [
        Route(PREFIX + path, _endpoint(operations), methods=list(operations))
        for path, operations in by_path.items()
    ]


def openapi_document(routers: list[ApiRouter]) -> dict:
    """OpenAPI 3.1 for every declared operation."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for router in routers:
        for operation in router.operations:
            path = PREFIX + re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", operation.path)
            parameters = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer" if converter == ":int" else "string"},
                }
                for name, converter in re.findall(r"\{(\w+)(:\w+)?\}", operation.path)
            ]
            parameters += [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": description,
                }
                for name, description in operation.query.items()
            ]
            spec: dict[str, Any] = {
                "summary": operation.summary,
                "tags": [router.tag],
                "operationId": f"{operation.method.lower()}_{operation.endpoint.__name__}",
                "parameters": parameters,
                # A public operation takes a token optionally (then it knows who asks).
                "security": [{}, {"bearer": []}] if operation.role == PUBLIC else [{"bearer": []}],
                "responses": {
                    str(operation.status): {"description": "success"},
                    "400": {"description": "bad request", "content": _error_content()},
                    "401": {"description": "missing or invalid token"},
                    "403": {"description": "role not allowed"},
                    "404": {"description": "not found"},
                    "422": {"description": "a field is not valid", "content": _error_content()},
                },
                "x-required-role": operation.role,
            }
            if operation.scope:
                spec["x-required-scope"] = operation.scope
                spec["responses"]["403"]["description"] += f", or no {operation.scope} scope"
            if operation.body is not None:
                schema = operation.body.model_json_schema(
                    by_alias=True, ref_template="#/components/schemas/{model}"
                )
                schemas.update(schema.pop("$defs", {}))
                schemas[operation.body.__name__] = schema
                spec["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{operation.body.__name__}"}
                        }
                    },
                }
            paths.setdefault(path, {})[operation.method.lower()] = spec
    paths["/healthz"] = {
        "get": {
            "summary": "Liveness and database check",
            "security": [],
            "responses": {"200": {"description": "healthy"}},
        }
    }
    paths["/readyz"] = {
        "get": {
            "summary": "Whether the database takes writes now (503 with the reason when not)",
            "security": [],
            "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
        }
    }
    paths[PREFIX + "/openapi.json"] = {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI"}},
        }
    }
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
        "required": ["error"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tresen REST API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _error_content() -> dict:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def not_found(what: str, ident) -> ApiError:
    return ApiError(404, f"{what} {ident} does not exist")


def http_error_as_json(request: Request, exc: HTTPException) -> Response:
    if request.url.path.startswith(PREFIX):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    return Response(str(exc.detail), status_code=exc.status_code, media_type="text/plain")
