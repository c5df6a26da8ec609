"""The central saraban unit's web desk: the register, the quarantine, the secret
register and the operations figures in a browser (docs/console.md)."""
