"""`cellctl api --site …`: the HTTP API for the shop's systems (FastAPI on uvicorn).

`cellctl api openapi` prints the generated OpenAPI document; `cellctl api token` makes
a random token and prints the sha256 line to put in the site file."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("api", help="serve the HTTP API for the shop's systems")
    p.add_argument("--site", default="stations/demo/site.toml", help="the site's TOML file")
    p.add_argument("--host", help="listen address (default: [api] host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: [api] port, 8640)")
    p.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the historian")
    p.add_argument("action", nargs="?", choices=("serve", "openapi", "token"), default="serve")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import secrets
    from pathlib import Path

    from cellctl.commands.historian import load_site_for_bus
    from cellctl.errors import CliError

    if args.action == "token":
        from cellctl.api.auth import token_hash

        token = secrets.token_urlsafe(32)
        print(f"token (give it to the client, keep it nowhere else): {token}")
        print(f'sha256 = "{token_hash(token)}"')
        return 0
    site = load_site_for_bus(args.site, args.url)
    from cellctl.api.app import create_app, uvicorn_ssl
    from cellctl.api.auth import AuthConfigError
    from cellctl.config.api import ApiConfig

    try:
        app = create_app(site, args.site, timeout_s=args.timeout)
    except AuthConfigError as exc:
        raise CliError(str(exc)) from None
    if args.action == "openapi":
        print(json.dumps(app.openapi(), indent=1))
        return 0
    import uvicorn

    api = site.api or ApiConfig()
    if not api.tokens:
        raise CliError(f"{args.site}: no [[api.tokens]]: nobody could use the API")
    uvicorn.run(
        app,
        host=args.host or api.host,
        port=args.port if args.port is not None else api.port,
        log_level="info",
        **uvicorn_ssl(api, Path(args.site).parent),
    )
    return 0
