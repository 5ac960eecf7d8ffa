"""The FastAPI app: JSON API under /api/v1 and the Chinese pages, with auth and permissions."""
