"""``keysentry serve``: the long-running service (FastAPI under uvicorn)."""
