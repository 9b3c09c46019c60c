"""The HTTP API: FastAPI routers, one per area; thin: parse -> service -> schema."""
