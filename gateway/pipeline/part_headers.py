"""The bound on the header lines of a letter's MIME parts and of the messages inside it
(gateway/pipeline/parse.py `PartHeadersTooLarge`), in a module of its own: the SMTP
supervisor names it in its 552 reply without importing the parser."""

# A forwarded letter's header block is a few KB (30-50 KB with its Received lines), a
# part's a few hundred bytes. 50,000 Subject lines in a forwarded letter (2.4 MB) cost
# the DATA check 1 s of CPU and the pipeline as much again, and twenty such letters fit
# in 50 MB (20 s and 530 MB at DATA). Counted together, the letter's own header block
# apart ([smtp] max_header_size's).
MAX_PART_HEADERS = 1024 * 1024
