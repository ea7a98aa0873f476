"""Alembic migrations of the catalog (SQLite and PostgreSQL alike)."""
