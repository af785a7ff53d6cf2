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

from tresen.accounts import user_for_token
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
    ):
        """Declare an endpoint: handler(request, user[, body]) returns JSON data or a Response."""

        def decorate(endpoint):
            self.operations.append(
                Operation(method.upper(), path, endpoint, summary, role, body, query or {}, status)
            )
            return endpoint

        return decorate


PUBLIC = "public"  # an operation's role when anyone may call it (the user is then None)


async def bearer_user(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    user = await user_for_token(request.app.state.runtime, token.strip())
    if user is None:
        raise ApiError(401, "token is not valid")
    return user


async def parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The JSON body validated against the model; errors name the field."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(422, f"{where}: {first['msg']}", field=where) from None


def query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name}={raw!r} is not a whole number", name) from None


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
                user = await bearer_user(request)
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
