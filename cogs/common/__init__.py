"""What every cog shares: permission checks, the one error path, and the outbox."""
