"""Tools for the central saraban unit and the sysadmins: quarantine, reprocessing, the
register (show, cancel, export, emergency import) and the unit directory import.

Each file is one tool; `add_*_commands(subparsers)` registers its subcommands."""
