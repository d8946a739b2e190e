# Idempotent install into .venv, then the two things a new user does: the main job and the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

LOCK := requirements.lock

.PHONY: install demo test lock

install: $(STAMP)

# the locked versions, exactly (requirements.lock), then this project on top of them without re-resolving
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r $(LOCK) -e ".[dev]"
	touch $(STAMP)

# rewrite the lock from the current .venv (after changing pyproject.toml and `make install`)
lock:
	$(PY) -m pip freeze --exclude-editable | $(PY) .ci/lock_markers.py > $(LOCK)

demo: install
	$(VENV)/bin/rice-probe demo --out demo_out

test: install
	$(PY) -m pytest -q
