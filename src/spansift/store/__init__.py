"""The exception log on disk: DuckDB tables, migrations, views and the hash chain."""
