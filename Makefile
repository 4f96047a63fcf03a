# Loom — developer entry points.  `make test` works on a fresh clone: it creates the venv,
# installs the project with its dev and demo extras (compiling the kernel's C half,
# sim/_c/), and runs the suite.
#   make test                  # Python 3.11 (python3), venv in .venv
#   make test PY=python3.12    # another interpreter, its own venv (.venv-python3.12)
#   make bench                 # kernel/world/network benchmarks against peers (JSON)
#   make demo                  # the arena world and the pygame client (python -m demos.run)

PY ?= python3
# Test files run on this many processes (pytest-xdist; a file stays on one process).
JOBS ?= 2
ifeq ($(PY),python3)
VENV ?= .venv
else
VENV ?= .venv-$(notdir $(PY))
endif
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test bench venv lint clean demo

$(STAMP): pyproject.toml setup.py $(wildcard sim/_c/*.c sim/_c/*.h)
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev,demo]'
	touch $(STAMP)

venv: $(STAMP)

# The kernel and world suites run a second time on the pure-Python twins of sim/_c/;
# then 30 s of soak (python -m tools.soak --help says what it checks).
test: $(STAMP)
	$(VPY) -m pytest -n $(JOBS) --dist loadfile $(PYTEST_ARGS)
	LOOM_PURE_PYTHON=1 $(VPY) -m pytest -q -n $(JOBS) --dist loadfile tests/instrument tests/sim tests/stackless tests/world
	$(VPY) -m tools.soak --minutes 0.5

# The arena world on a free port and the pygame client on it; the server stops with the window.
# DEMO_ARGS go to python -m demos.run (e.g. DEMO_ARGS="--world-arg drones=200 -- --name me").
demo: $(STAMP)
	$(VPY) -m demos.run $(DEMO_ARGS)

bench: $(STAMP)
	$(VPY) -m tools.bench --json

lint: $(STAMP)
	$(VPY) -m ruff check sim net server demos tools tests
	$(VPY) -m mypy

clean:
	rm -rf .venv .venv-* build *.egg-info
