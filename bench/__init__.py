"""The app's benchmark, beside the app: what a class waits for before its first search result
(`bench.first_use`), added to the report of `python -m core bench`. It imports `core`; `core` never
imports it."""
