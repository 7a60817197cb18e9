"""Market data: quotes, trades, bars, option chains and a live price stream."""
