"""The baseline for bench/ingest.py: a bare Starlette app that reads the body and answers."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"status": "accepted", "bytes": len(body)})


app = Starlette(routes=[Route("/webhooks/orb", echo, methods=["POST"])])
