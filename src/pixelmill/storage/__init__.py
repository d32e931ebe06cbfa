"""Where results live: the database (models, repository, migrations) and files on disk."""
