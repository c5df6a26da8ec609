# The two commands of README.md: `make run` and `make test`. Both set up everything on a
# fresh Debian machine with Python 3.11+ (system packages when run as root, the .venv).
# The interpreter of the .venv: Debian's own python3 where it is 3.11 or newer and can make
# a venv (python3-venv, installed below as root), else the first python3 on PATH. Debian
# builds CPython with profile-guided and link-time optimisation, pyenv without it unless
# asked: on this project's machine pyenv's 3.11.7 spent 20 % more CPU a letter in the
# daemon and 50 % more on each process's imports than Debian's 3.11.2 (docs/performance.md,
# session 47). `make PYTHON=...` chooses another; a .venv made with another interpreter is
# made again.
DEBIAN_PYTHON = $(shell /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo /usr/bin/python3)
PYTHON ?= $(or $(DEBIAN_PYTHON),python3)
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/gateway.example.toml

# Debian packages: libmagic for python-magic, TLWG fonts for the Thai receive stamp
# and printed register (DejaVu Sans for the characters Garuda lacks: ≥ € ✓ Ω), and Tesseract with its Thai model for the secrecy stamp on
# scanned pages (run); Dovecot and PostgreSQL are real servers the test suite
# starts by itself, and openssl and gpgsm decrypt in the tests what secret registrars receive.
# The web desk's tests drive Debian's Chromium (Playwright, no browser download) and
# sign in against an OpenLDAP slapd they start. The receive stamp tests render pages
# with poppler (pdftoppm), judge signatures with pdfsig, and stamp a letter LibreOffice
# Writer exported (soffice --convert-to pdf), and read markings on letters Chromium printed
# in Noto Sans Thai (fonts-noto-core).
RUN_DEBS  := python3-venv libmagic1 fonts-tlwg-garuda-ttf fonts-dejavu-core tesseract-ocr tesseract-ocr-tha
TEST_DEBS := $(RUN_DEBS) dovecot-imapd postgresql openssl gpgsm \
	chromium slapd ldap-utils \
	poppler-utils libreoffice-writer-nogui fonts-noto-core

.PHONY: run test system-run system-test venv bench clean

run: system-run $(BIN)/.installed bytecode
	$(BIN)/saraban-gateway --config $(CONFIG) run

# Four pytest workers (pytest-xdist), a test file each at a time: files keep their
# module-wide daemons and servers to themselves. Four on 2 cores, because the suite waits
# on its daemons, servers and browsers more than it computes: with two workers it kept
# 0.9 of the 2 cores busy (17-24 min in session 17), with four 1.8 (2250 tests in 16.6
# min, session 18, a quiet machine). Five were tried in session 57 (1684 s against
# 1692 s with four, more CPU): no gain. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 4

test: system-test $(BIN)/.installed bytecode
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The project's own modules compiled once, up front. Where PYTHONDONTWRITEBYTECODE is
# set (Debian's CI images, some shells) Python never writes them itself, and every
# process (the daemon, each runner and worker, each CLI command; ~1,300 in a test run)
# compiled the 31,000 lines it imports again: ~0.1-0.2 s of CPU each. An edited file
# is only recompiled in memory until the next `make`: Python checks each one's mtime.
.PHONY: bytecode
bytecode: $(BIN)/.installed
	@$(BIN)/python -m compileall -q gateway storage rules

system-run:
	@DEBS="$(RUN_DEBS)" sh tests/ensure_debs.sh

system-test:
	@DEBS="$(TEST_DEBS)" sh tests/ensure_debs.sh

# Which interpreter the .venv was made with; rewritten (and so newer than .installed) only
# when the one chosen above is another.
WHICH_PYTHON = $(PYTHON) -c 'import os, sys; print(os.path.realpath(sys.executable), sys.version.split()[0])'

$(VENV)/.python: FORCE
	@mkdir -p $(VENV)
	@$(WHICH_PYTHON) > $@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv -f $@.new $@

$(BIN)/.installed: pyproject.toml $(VENV)/.python
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "saraban-gateway needs Python 3.11 or newer, found " + sys.version.split()[0])'
	$(PYTHON) -m venv --clear $(VENV)
	@$(WHICH_PYTHON) > $(VENV)/.python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

.PHONY: FORCE
FORCE:

venv: $(BIN)/.installed

bench: $(BIN)/.installed
	$(BIN)/python bench/smtp_throughput.py

# Side by side with Postfix -> Dovecot LMTP on the same letters (issue 16). Installs the
# peer's Debian packages (as root; no system Postfix or Dovecot is left running), then
# runs the bench; options through BENCH_ARGS, e.g. make bench-peer BENCH_ARGS="--count 300".
.PHONY: bench-peer
bench-peer: $(BIN)/.installed
	sh bench/peer/setup.sh
	$(BIN)/python bench/side_by_side.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
