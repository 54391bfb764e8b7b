"""The OpenAPI description that FastAPI makes, as a plain HTML page: FastAPI's own /docs page loads Swagger UI
from a CDN, and nothing here loads anything from elsewhere."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render_api_page"]


def render_api_page(schema: dict[str, Any]) -> str:
    """Every operation of ``schema``: method, path, summary, description, form fields and answers."""
    info = schema.get("info", {})
    sections = []
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            sections.append(_operation(method.upper(), path, op))
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{title} API</title><link rel="stylesheet" href="/static/web.css"></head>'
        f'<body class="apidocs"><main><h1>{title} HTTP API</h1>'
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI '
        f"{escape(str(schema.get('openapi', '')))}).</p>{''.join(sections)}</main></body></html>\n"
    )


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    parts = [f"<section><h2><code>{escape(method)} {escape(path)}</code></h2>"]
    if op.get("summary"):
        parts.append(f"<p><strong>{escape(op['summary'])}</strong></p>")
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    body = op.get("requestBody", {}).get("content", {})
    for kind, content in body.items():
        props = content.get("schema", {}).get("properties", {})
        required = set(content.get("schema", {}).get("required", []))
        if props:
            rows = "".join(
                f"<tr><td><code>{escape(name)}</code>{' (required)' if name in required else ''}</td>"
                f"<td>{escape(_type(spec))}</td><td>{escape(spec.get('description', ''))}</td></tr>"
                for name, spec in props.items()
            )
            parts.append(
                f"<p>Body: <code>{escape(kind)}</code></p><table><tr><th>field</th><th>type</th>"
                f"<th>meaning</th></tr>{rows}</table>"
            )
    answers = "".join(
        f"<li><code>{escape(code)}</code> {escape(spec.get('description', ''))}{_kinds(spec)}</li>"
        for code, spec in op.get("responses", {}).items()
    )
    parts.append(f"<p>Answers:</p><ul>{answers}</ul></section>")
    return "".join(parts)


def _type(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "")
    if "enum" in spec:
        return " | ".join(map(str, spec["enum"]))
    if spec.get("format") == "binary":
        return "file"
    bounds = [f"{k} {spec[k]}" for k in ("minimum", "maximum") if k in spec]
    default = f", default {spec['default']}" if "default" in spec else ""
    return f"{kind}{' (' + ', '.join(bounds) + ')' if bounds else ''}{default}"


def _kinds(spec: dict[str, Any]) -> str:
    kinds = list(spec.get("content", {}))
    return f" ({escape(', '.join(kinds))})" if kinds else ""
