"""Storage: SQLAlchemy 2 tables, the Database handle and Alembic migrations."""
