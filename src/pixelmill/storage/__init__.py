"""Where results live: files on disk (and, later, the database)."""
