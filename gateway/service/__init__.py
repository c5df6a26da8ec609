"""The supervisor, its runners' plumbing, reload, health, metrics and systemd notify."""
