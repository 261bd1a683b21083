"""The studio: a local page that trains the real library live (``neuronet studio``).

``catalog`` names the datasets the page may choose and makes them; ``settings`` checks
the page's controls as the estimators check their parameters and builds what trains;
``run`` trains in a thread per browser tab with the library's own loop, publishing
throttled snapshots; ``views`` computes what the page draws; ``script`` writes a run
as Python; ``server`` is the Starlette application and its guards. The page's HTML,
styles and script are in ``static/`` and ship with the package.

The server needs the ``studio`` extra (Starlette and uvicorn); the other modules only
the core install.
"""
