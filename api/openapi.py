"""The API's OpenAPI document as ``web/openapi.json`` holds it: the source of the page's types.

    python -m api.openapi web/openapi.json    # then `npm run build` in web/ (CONTRIBUTING.md)

The page's TypeScript types (``web/src/api-types.ts``) are generated from that file, so they follow
``api/schemas.py`` and ``ml/schema.py`` instead of being a second, hand-kept copy of them. The
document is the one ``/openapi.json`` serves, built from the settings' defaults and never from the
environment (the upload form's fps default and maximum come from the settings), so the file is the
same on every machine; ``tests/web/test_api_types.py`` checks that the committed one is current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from api.app import create_app
from emotrace.queue import CeleryQueue
from emotrace.settings import Settings
from emotrace.storage import LocalStore

# The production arrangement's clients connect on first use, and the document is built without a
# request: nothing is reached at these addresses.
UNUSED_DATABASE = "postgresql://localhost/emotrace"
UNUSED_REDIS = "redis://localhost:6379/0"


class DefaultSettings(Settings):
    """:class:`Settings` from its defaults and the values passed in: no environment variable,
    whatever the shell that regenerates the document has set."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def default_settings() -> Settings:
    return DefaultSettings(database_url=UNUSED_DATABASE, redis_url=UNUSED_REDIS)


def document() -> dict[str, Any]:
    settings = default_settings()
    app = create_app(settings, queue=CeleryQueue(settings), store=LocalStore(settings.storage_root))
    return app.openapi()


def render() -> str:
    """The document as the committed file holds it: FastAPI's key order, two-space indent."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m api.openapi OUTPUT.json", file=sys.stderr)
        return 2
    Path(argv[1]).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
