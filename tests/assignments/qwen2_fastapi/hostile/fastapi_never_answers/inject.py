import asyncio
import signal

import uvicorn
from fastapi import FastAPI, Request

signal.signal(signal.SIGTERM, signal.SIG_IGN)
hostile_app = FastAPI()


@hostile_app.post("/")
async def never(request: Request):   # accepts the request, never answers
    await asyncio.Event().wait()


uvicorn.run(hostile_app, host="0.0.0.0", port=6006)
