"""``trufor serve``: an analysis service for a team (REST API, database queue, worker processes, web page).

Modules: :mod:`.config` (settings), :mod:`.store` (the database and its queue), :mod:`.files` (the data
folder), :mod:`.worker` (analysis processes), :mod:`.report` (words and reports), :mod:`.security` (token,
headers, limits), :mod:`.app` (the FastAPI application), :mod:`.server` (workers + uvicorn), ``static/``
(the web page). Needs the ``service`` extra: ``pip install "trufor[service]"``.
"""
