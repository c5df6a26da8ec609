"""The unit directory: the saraban addresses the gateway receives for."""
