"""The SQL store (SQLAlchemy 2) for SQLite and PostgreSQL, with its migrations."""
