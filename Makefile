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

# The course's assignments, each a plug-in (assignments/<name>/) with its notebooks in source/<name>/.
ASSIGNMENTS := pytorch_vfa policy_gradient

.PHONY: setup run test release notebooks examples bench bench-grading bench-hang bench-idless bench-scale bench-dask cuda-check

setup: $(STAMP)

# torch first, from the pin: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The main job: grade the bundled example submissions of every assignment and print the tables.
run: examples
	for a in $(ASSIGNMENTS); do $(VENV)/bin/autograder grade out/examples/submitted --assignment $$a --format table \
		|| exit 1; done

# Example students (examples/students/<assignment>/*.py): the instructor notebooks with a few
# functions rewritten, built fresh so that they follow the source notebooks.
examples: setup
	rm -rf out/examples
	for a in $(ASSIGNMENTS); do $(PY) scripts/build_submissions.py examples/students/$$a out/examples/submitted \
		|| exit 1; done

# Each assignment's self-check (source/<a>/selfcheck/: its checks' public cases, the reference's and the known
# mistakes' results on them, the engine code that runs them), then the student version nbgrader generates from
# source/<a>/, the self-check copied in.
release: setup
	for a in $(ASSIGNMENTS); do $(VENV)/bin/autograder selfcheck $$a && \
		$(WITH_VENV) $(VENV)/bin/nbgrader generate_assignment $$a --force --CourseDirectory.root=. || exit 1; done

# Every instructor notebook top to bottom (experiments and hidden tests), each timed.
notebooks: setup
	mkdir -p out/executed
	for nb in $(foreach a,$(ASSIGNMENTS),$(wildcard source/$(a)/*.ipynb)); do \
		start=$$(date +%s.%N); $(WITH_VENV) $(VENV)/bin/jupyter nbconvert --to notebook --execute \
		--output-dir out/executed/$$(basename $$(dirname $$nb)) $$nb || exit 1; \
		echo "$$nb: $$(echo "$$(date +%s.%N) - $$start" | bc) s"; done

test: setup
	$(WITH_VENV) $(PY) -m pytest

bench: setup
	$(PY) scripts/bench_td_loops.py

# autograder grade vs nbgrader autograde on the same 10 submissions (~10 min; QUICK=1: ~3 min);
# BASELINE=REV: only this autograder against the one of git revision REV, side by side.
bench-grading: setup
	$(WITH_VENV) $(PY) scripts/bench_grading.py $(if $(QUICK),--quick) $(if $(BASELINE),--baseline $(BASELINE))

# A hanging function's cost: each hang against the same answers fixed (~3 min).
bench-hang: setup
	$(WITH_VENV) $(PY) scripts/bench_hang.py

# The same answers saved by Colab, VS Code and JupyterLab 4, graded side by side (~3 min).
bench-idless: setup
	$(WITH_VENV) $(PY) scripts/bench_idless.py

# A class of 500 pytorch_vfa submissions (hangs, crashes and broken notebooks among them), with and without
# its hangs, 3 runs each, and one submission alone against nbgrader (~30 min; N=100 RUNS=1: a short look).
bench-scale: setup
	$(WITH_VENV) $(PY) scripts/bench_scale.py $(if $(N),-n $(N)) $(if $(RUNS),--runs $(RUNS))

# Grading on a Dask cluster (--dask local:2) against --jobs 2 on the same 100 submissions, alternately, 2 rounds
# each (tens of minutes here; N=40 ROUNDS=1: a shorter run).
bench-dask: setup
	$(WITH_VENV) $(PY) scripts/bench_dask.py $(if $(N),-n $(N)) $(if $(ROUNDS),--rounds $(ROUNDS))

# On a machine with an NVIDIA GPU: grade every fixture on CUDA and on the CPU and compare, run the notebooks
# on CUDA (scripts/cuda_check.py; ~3 min on 16 cores). Without a GPU it checks the CPU path the same way.
cuda-check: setup
	$(PY) scripts/cuda_check.py
