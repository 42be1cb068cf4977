"""Database access: the local cluster, connections, migrations and error messages."""
