"""Tickets, messages, history, the inbox and the outbox."""
