"""The receiver's published OpenAPI document: request schemas, answers, security schemes.

The alert routes read their bodies themselves (authentication comes before parsing), so
FastAPI cannot infer their request schemas; they are declared here from the pydantic models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from wedperf.alerts.auth import SIGNATURE_HEADER

DESCRIPTION = (
    "Alerts from Prometheus Alertmanager (webhook version 4), Grafana unified alerting and "
    "any JSON sender, committed to wedperf's inbox before the answer. 200: every alert of "
    "the notification is stored. 401: missing or invalid credentials (bearer token, basic "
    "auth with the token as password, or, when enabled, a v1 X-Wedperf-Signature over "
    "method, path, timestamp, nonce and body digest); checked from the headers, before the "
    "body is read. 408: body not received in time. 413: body too large. 415: not "
    "application/json. 422: malformed, the message says what is wrong; nothing stored. "
    "503: overloaded or database unavailable, nothing stored, retry."
)

ERROR_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["error"],
            }
        }
    }
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Every alert of the notification is committed to the inbox."},
    400: {"description": "Content-Length is not a number.", **ERROR_BODY},
    401: {"description": "Missing or invalid credentials.", **ERROR_BODY},
    408: {"description": "Body not received within the deadline; nothing stored.", **ERROR_BODY},
    413: {"description": "Body larger than the limit.", **ERROR_BODY},
    415: {"description": "Content-Type is not application/json.", **ERROR_BODY},
    422: {
        "description": "Malformed; the message says what is wrong. Nothing stored.",
        **ERROR_BODY,
    },
    503: {"description": "Overloaded or database down; nothing stored. Retry.", **ERROR_BODY},
}


def build_openapi(app: FastAPI, models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """The app's OpenAPI document: FastAPI's, plus the request-body schemas of `models` as
    components and the three security schemes on the alert routes (cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=DESCRIPTION,
        routes=app.routes,
    )
    _, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(definitions.get("$defs", {}))
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "basic": {"type": "http", "scheme": "basic"},
        "signature": {
            "type": "apiKey",
            "in": "header",
            "name": SIGNATURE_HEADER,
            "description": "when enabled (WEDPERF_WEBHOOK__HMAC_SECRET): v1=<hex HMAC-SHA256 "
            'of "v1\\n<METHOD>\\n<path>\\n<timestamp>\\n<nonce>\\n<content sha256>">, with '
            "X-Wedperf-Timestamp, X-Wedperf-Nonce and X-Wedperf-Content-SHA256",
        },
        "rum": {
            "type": "http",
            "scheme": "bearer",
            "description": "/rum's own token (WEDPERF_RUM__TOKEN); alert credentials are refused",
        },
    }
    for path, operations in schema["paths"].items():
        if path.startswith("/alerts/"):
            for operation in operations.values():
                operation["security"] = [{"bearer": []}, {"basic": []}, {"signature": []}]
    app.openapi_schema = schema
    return schema
