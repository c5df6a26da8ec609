"""The `saraban-gateway` command: one module per command group."""
