"""Tables of the simulated exchange (owned by the brokers work)."""
