"""The help centre's name, logo and colour (desk settings `help_name`, `help_logo`,
`help_color`): their checks, the uploaded logo in the data folder, what the pages show."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from tresen.desk_settings import all_settings, cached_setting
from tresen.i18n import _
from tresen.settings import SettingsError, _logo_url

COLOR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_LOGO_BYTES = 512 * 1024
LOGO_PATH = "/help/assets/logo"
# Raster images by their first bytes; no SVG (it may carry scripts) and no guessing by name.
LOGO_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
DEFAULT_COLOR = "#285bd4"


class BrandError(ValueError):
    """A value the help centre cannot show; the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_color(raw: str) -> str:
    """'' (the default colour) or #rrggbb, lowercased."""
    value = raw.strip()
    if value and not COLOR.fullmatch(value):
        raise BrandError(
            "help_color", _("%(value)s is not a colour like #1f4fbf", value=repr(value[:20]))
        )
    return value.lower()


def check_logo_url(raw: str, base_url: str) -> str:
    """'' or an address the pages may show (a path here, this site, a data:image)."""
    value = raw.strip()
    if len(value) > (200_000 if value.startswith("data:image/") else 2000):
        raise BrandError("help_logo", _("The logo's address is too long."))
    try:
        return _logo_url(value, base_url)
    except SettingsError:
        raise BrandError(
            "help_logo",
            _(
                "The logo is a path on this server, an address of this site or an uploaded "
                "image: the pages show no images from other sites."
            ),
        ) from None


def logo_type(content: bytes) -> str | None:
    return next((kind for magic, kind in LOGO_TYPES.items() if content.startswith(magic)), None)


def logo_file(data_dir: Path) -> Path:
    return Path(data_dir) / "help" / "logo"


def save_logo(data_dir: Path, content: bytes) -> str:
    """Keep an uploaded logo (PNG, JPEG or GIF, at most 512 KB); its address for the pages."""
    if len(content) > MAX_LOGO_BYTES:
        raise BrandError("help_logo", _("The logo is larger than 512 KB."))
    if logo_type(content) is None:
        raise BrandError("help_logo", _("The logo must be a PNG, JPEG or GIF image."))
    path = logo_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(content)
    partial.replace(path)
    # A new address with every new image: browsers keep the old one for a day.
    return f"{LOGO_PATH}?v={hashlib.sha256(content).hexdigest()[:12]}"


@dataclass(frozen=True)
class Brand:
    name: str
    logo: str
    color: str

    @property
    def accent_text(self) -> str:
        """Black or white on the accent colour, whichever reads better."""
        red, green, blue = (int(self.color[i : i + 2], 16) for i in (1, 3, 5))
        return "#000000" if (red * 299 + green * 587 + blue * 114) / 1000 > 150 else "#ffffff"


def _brand(values: dict, settings) -> Brand:
    color = str(values["help_color"] or "")
    return Brand(
        name=str(values["help_name"] or "").strip() or settings.company_name,
        logo=str(values["help_logo"] or "") or settings.company_logo_url,
        # Checked again: it goes into a <style>, whoever wrote the row.
        color=color.lower() if COLOR.fullmatch(color) else DEFAULT_COLOR,
    )


def default_brand(settings) -> Brand:
    """The deployment's name and logo with the default colour (no desk settings read)."""
    return Brand(settings.company_name, settings.company_logo_url, DEFAULT_COLOR)


async def brand(session, settings) -> Brand:
    """What the help centre shows: the settings an administrator saved, else the deployment's."""
    return _brand(await all_settings(session), settings)


async def cached_brand(runtime) -> Brand:
    """The same for every portal page, from the process's settings cache (no read a page)."""
    keys = ("help_name", "help_logo", "help_color")
    return _brand({key: await cached_setting(runtime, key) for key in keys}, runtime.settings)
