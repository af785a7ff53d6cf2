"""REST API v1: a conversational channel's bot settings, for administrators' tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from bots.settings import is_bot_channel, save_settings, settings_json, settings_of
from tresen.api import ApiRouter, not_found
from tresen.text import Text

router = ApiRouter("bots")


class SettingsPut(BaseModel):
    """Fields left out keep their value; `threshold: null` is the calibrated default."""

    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool | None = None
    engine: Literal["faq", "rasa"] | None = None
    name: Text | None = Field(default=None, min_length=1, max_length=100, examples=["Tresa"])
    greeting_en: Text | None = Field(default=None, max_length=1000)
    greeting_de: Text | None = Field(default=None, max_length=1000)
    languages: list[Literal["de", "en"]] | None = Field(
        default=None, min_length=1, max_length=2, examples=[["de", "en"]]
    )
    threshold: float | None = Field(default=None, ge=0.0, le=1.0, examples=[0.7])
    hours: Literal["always", "outside_business_hours"] | None = None
    rasa_url: Text | None = Field(default=None, max_length=500, examples=["http://localhost:5005"])
    rasa_timeout: float | None = Field(default=None, ge=0.5, le=60.0)


def _channel(request) -> str:
    channel = request.path_params["channel"]
    if not is_bot_channel(channel):
        raise not_found("bot channel", channel[:30])
    return channel


@router.route(
    "GET",
    "/bot/settings/{channel}",
    summary="A conversational channel's bot settings",
    role="admin",
)
async def get_settings(request, user):
    channel = _channel(request)
    async with request.app.state.runtime.read() as session:
        return settings_json(await settings_of(session, channel))


@router.route(
    "PUT",
    "/bot/settings/{channel}",
    summary="Change a channel's bot (fields left out keep their value)",
    role="admin",
    body=SettingsPut,
)
async def put_settings(request, user, body: SettingsPut):
    channel = _channel(request)
    # null is the calibrated default for the threshold, no URL for rasa_url, and a 422
    # naming the field for any other.
    values = body.model_dump(exclude_unset=True)
    async with request.app.state.runtime.transaction() as tx:
        return settings_json(await save_settings(tx, channel, values))
