"""Business rules. Plain keyword-only functions; they flush but never commit (the caller's unit of work does)."""
