"""Writes the API's OpenAPI document without a server or a database, for the web portal's
generated TypeScript types (`make web-types`) and the check that they are current."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from suanli.api.app import create_api
from suanli.bootstrap import App


def openapi_document() -> dict[str, Any]:
    # Building the schema reads only the routes; the App is used by requests, none made here.
    return create_api(cast(App, SimpleNamespace())).openapi()


def rendered() -> str:
    return json.dumps(openapi_document(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(rendered(), encoding="utf-8")
