"""``runlite serve``: a local LangSmith-compatible server over one runlite file.

LangSmith's SDKs trace into the file unchanged (``LANGSMITH_ENDPOINT=http://127.0.0.1:N``),
read it back through their ``Client``, and the same port serves the viewer pages. Needs the
``server`` extra (Starlette, uvicorn, multipart); the rest of runlite does not.
"""

from .app import make_app
from .http import MAX_BODY
from .run import Server, serve

__all__ = ["MAX_BODY", "Server", "make_app", "serve"]
