# Two entry points for a fresh clone: `make run` and `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian's chromium drives the playground's browser tests; Playwright never downloads a browser.
CHROMIUM := /usr/bin/chromium
# Its own target: a machine that already had chromium still gets the emoji the buttons show.
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck unit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Installed once (the target is the binary itself); without apt-get the browser tests skip.
$(CHROMIUM):
	@if command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium fonts-noto-color-emoji >/dev/null; \
	else \
		echo "no apt-get: install chromium for the browser tests, or they are skipped"; \
	fi

$(EMOJI_FONT):
	@if command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			fonts-noto-color-emoji >/dev/null; \
	else \
		echo "no apt-get: install the Noto Color Emoji font, or emoji show as boxes"; \
	fi

run: $(STAMP)
	$(BIN)/chibo run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(CHROMIUM) $(EMOJI_FONT)
	$(BIN)/python -m pytest

# The whole suite: lint, strict typing, then every test (PostgreSQL ones too when
# CHIBO_TEST_POSTGRES_URL is set; under CI=true they are required).
test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
