"""Data-quality rules as data (rules.py) and the factory that turns them into asset checks (factory.py)."""
