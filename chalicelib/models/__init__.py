"""PynamoDB models, one module per table. Table names come from settings at import time,
so tests and ``chalice local`` set the environment before importing the app."""
