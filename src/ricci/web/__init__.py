"""The playground: a local web application over ricci (``ricci serve``, docs/playground.md).

:mod:`~ricci.web.api` turns a JSON request into a JSON answer (pure functions, no
sockets), :mod:`~ricci.web.graph` draws a program's computation graph as SVG,
:mod:`~ricci.web.gallery` holds the examples it offers (generated from examples/ and the
articles' worked examples), and :mod:`~ricci.web.server` serves the page and the API with
the standard library's ``http.server``.
"""

from .server import make_server, serve

__all__ = ["make_server", "serve"]
