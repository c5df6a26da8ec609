"""Bounds of the MIME parse that the SMTP supervisor names in its 552 replies, in a
module of their own so that it does not import the parser (gateway/pipeline/parse.py
`PartHeadersTooLarge`, `TooManyLines`)."""

# A forwarded letter's header block is a few KB (30-50 KB with its Received lines), a
# part's a few hundred bytes. 50,000 Subject lines in a forwarded letter (2.4 MB) cost
# the DATA check 1 s of CPU and the pipeline as much again, and twenty such letters fit
# in 50 MB (20 s and 530 MB at DATA). Counted together, the letter's own header block
# apart ([smtp] max_header_size's).
MAX_PART_HEADERS = 1024 * 1024

# Lines a message may have: the stdlib's parser keeps every line as a string of its own
# (~55 bytes each, twice while it parses), so 48 MB of empty lines took 2.2 GB and 15 s:
# past the DATA check's memory cap, then all of it in a pipeline runner, which has none.
# A letter's lines average 70-78 bytes (base64, quoted-printable, a client's text);
# more than one in every MEAN_LINE_FLOOR bytes, past the first MIN_LINE_LIMIT, is not a
# letter (gateway/pipeline/parse.py `TooManyLines`).
MIN_LINE_LIMIT = 1_000_000
MEAN_LINE_FLOOR = 16


def line_limit(size: int) -> int:
    return max(MIN_LINE_LIMIT, size // MEAN_LINE_FLOOR)
