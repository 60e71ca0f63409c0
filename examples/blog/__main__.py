"""``python -m examples.blog [--host H] [--port P]``: serve the blog with uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the SpecStar blog example.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    app = create_app()
    base = f"http://{args.host}:{args.port}"
    print(f"SpecStar blog — storage: {app.state.storage}", flush=True)
    print(f"API docs: {base}/docs  (OpenAPI: {base}/openapi.json)", flush=True)
    print(f"Admin UI: {base}/admin", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
