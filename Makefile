# Two entry points for a newcomer: `make run` (set up, then the main job) and
# `make test` (set up, then the whole test suite). Everything else is a step of those.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# One torch thread: on small shared machines two threads ran ~10x slower than one.
export OMP_NUM_THREADS ?= 1
# The venv's bin/ on PATH, for what starts nbgrader, jupyter and alembic by name (tests, benchmarks).
WITH_VENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: setup run test release notebooks examples bench bench-grading cuda-check

setup: $(STAMP)

# torch first, from the pin: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The main job: grade the bundled example submissions and print the table.
run: examples
	$(VENV)/bin/autograder grade out/examples/submitted --format table

# Example students (examples/students/<assignment>/*.py): the instructor notebooks with a few
# functions rewritten, built fresh so that they follow the source notebooks.
examples: setup
	rm -rf out/examples
	$(PY) scripts/build_submissions.py examples/students/pytorch_vfa out/examples/submitted

release: setup
	$(VENV)/bin/nbgrader generate_assignment pytorch_vfa --force --CourseDirectory.root=.

notebooks: setup
	mkdir -p out/executed
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --output-dir out/executed \
		source/pytorch_vfa/pytorch_basics.ipynb source/pytorch_vfa/value_approximation.ipynb

test: setup
	$(WITH_VENV) $(PY) -m pytest

bench: setup
	$(PY) scripts/bench_td_loops.py

# autograder grade vs nbgrader autograde on the same 10 submissions (~10 min; QUICK=1: ~3 min);
# BASELINE=REV: only this autograder against the one of git revision REV, side by side.
bench-grading: setup
	$(WITH_VENV) $(PY) scripts/bench_grading.py $(if $(QUICK),--quick) $(if $(BASELINE),--baseline $(BASELINE))

# On a machine with an NVIDIA GPU: grade every fixture on CUDA and on the CPU and compare, run the notebooks
# on CUDA (scripts/cuda_check.py; ~3 min on 16 cores). Without a GPU it checks the CPU path the same way.
cuda-check: setup
	$(PY) scripts/cuda_check.py
