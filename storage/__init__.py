"""Durable state: SQLAlchemy models, the receive register, the document vault."""
