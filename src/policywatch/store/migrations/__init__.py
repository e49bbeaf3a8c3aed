"""Alembic migrations of the store's schema, applied on open and by ``db upgrade``."""
