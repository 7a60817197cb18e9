"""Reporting: trade statistics and charts shared by the Discord cogs and the offline replay."""
