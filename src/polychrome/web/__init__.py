"""polychrome on the web: the colorizing page and its HTTP API, on FastAPI and uvicorn.

:mod:`~polychrome.web.guards` holds what every page shares on the wire (JSON errors, security headers,
bounded request bodies) and :mod:`~polychrome.web.server` runs an app on uvicorn; the Turing test
(:mod:`polychrome.turing.server`) uses both. Needs the ``web`` extra: ``pip install 'polychrome[web]'``.
"""
