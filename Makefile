# `make book` builds the HTML book; `make test` runs every test. Both create or update .venv first.
# Data: set MTL_DATA_DIR to a folder that contains MNIST/raw, or let mtl_utils fetch and cache it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
export MTL_PROGRESS ?= 0
# One thread per process everywhere: the cores are used by processes instead (a chapter's seeds run side by side in
# worker processes, and `make test` runs NB_WORKERS notebooks at a time). A busy machine then slows a step down a
# little instead of collapsing it (see bench/README.md).
export MTL_THREADS ?= 1
NB_WORKERS ?= 2
# The closing chapter reads the results the other chapters write, so it runs after them.
CLOSING := book/08b_rest_of_the_field.ipynb book/16_when_mtl_pays_off.ipynb

.PHONY: book test install data execute clean clean-cache lab student results assignments format colab

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	# otter-grader brings jupytext, whose JupyterLab extension is built for another Lab than the one jupyterlab-myst
	# needs (<4.5): it fails to load and fills Lab's console with errors. The book does not use it.
	rm -rf $(VENV)/share/jupyter/labextensions/jupyterlab-jupytext
	touch $@

install: $(STAMP)

data: install
	$(PY) -c "from mtl_utils.foundations.mnist import report; report()"

# The HTML from the notebooks' committed outputs (which `make test` verifies): about a minute, nothing is executed.
book: install
	$(JB) build . --builder html
	@echo "Book built from the committed outputs: open _build/html/index.html (\`make execute\` re-runs the notebooks)"

# The chapters that save results write them to TEST_RESULTS, not to the tracked book/results/, and the closing chapter
# then reads the ones this run made.
TEST_RESULTS := _build/test-results
test: data
	$(PY) -m pytest -p xdist -n $(NB_WORKERS) tests/unit
	$(PY) -m pytest -p xdist -n $(NB_WORKERS) --dist loadfile tests/assignments tests/colab
	rm -rf $(TEST_RESULTS) && mkdir -p $(TEST_RESULTS)
	MTL_RESULTS_DIR=$(abspath $(TEST_RESULTS)) $(PY) -m pytest --nbval-lax --nbval-current-env -p xdist \
	  -n $(NB_WORKERS) --dist loadfile book/ $(addprefix --ignore=,$(CLOSING))
	MTL_RESULTS_DIR=$(abspath $(TEST_RESULTS)) $(PY) -m pytest --nbval-lax --nbval-current-env $(CLOSING)
	mkdir -p _build && $(PY) tests/committed_config.py > _build/_config_committed.yml
	$(JB) build . --builder html -W -n --keep-going --config _build/_config_committed.yml
	$(PY) -m pytest tests/browser --ignore=tests/browser/test_student.py
	$(PY) tools/student.py _build/student --html
	$(PY) -m pytest tests/browser/test_student.py
	MTL_BOOK_HTML=$(abspath _build/student/html) $(PY) -m pytest tests/browser/test_links.py
	@echo "All tests passed. Book built from the committed outputs: _build/html/index.html"

# For authors: re-run every notebook in place, in book order, so that its committed outputs are fresh. A cell that
# fails or runs past the timeout stops the command with a non-zero exit status.
execute: data
	for nb in $(or $(NB),$(wildcard book/*.ipynb)); do echo "executing $$nb"; \
	  (cd "$$(dirname $$nb)" && $(abspath $(VENV))/bin/jupyter-execute --inplace --timeout=600 "$$(basename $$nb)") \
	  || { echo "execution of $$nb failed"; exit 1; }; done

clean:
	rm -rf _build

# Trained weights are keyed by configuration, torch version and the mtl_utils source; this removes them all.
clean-cache: install
	$(PY) -c "from mtl_utils.foundations.cache import clear, model_cache_dir; print(clear(), 'cached models removed from', model_cache_dir())"

# JupyterLab on book/, with the .venv kernel (where mtl_utils is installed); prints the URL with its token. Port
# LAB_PORT (8888), or the next free one if it is busy. Progress bars are on unless MTL_PROGRESS is set by you.
LAB_PORT ?= 8888
lab: install
	MTL_PROGRESS=$(if $(filter file,$(origin MTL_PROGRESS)),1,$(MTL_PROGRESS)) $(PY) tools/lab.py --port $(LAB_PORT) book

# For instructors: every notebook without its solutions (solution blocks and cells tagged `solution`), outputs cleared.
student: install
	$(PY) tools/student.py _build/student --html

# The chapters whose headline results (book/results/*.json) the closing chapter reads, run in book order. Their
# executed copies go to _build/executed/; the committed notebooks are left as they are.
RESULT_CHAPTERS := 04_hard_sharing 05_soft_sharing 07_task_weighting 08_conflicting_gradients 08b_rest_of_the_field \
                   09_task_affinity 10_multimnist 11_structure_sharing 15_optimizer_benchmark
results: data
	mkdir -p _build/executed
	for nb in $(RESULT_CHAPTERS); do \
	  MTL_RESULTS_DIR=$(CURDIR)/book/results $(VENV)/bin/jupyter-execute --timeout=1200 \
	    --output=$(CURDIR)/_build/executed/$$nb.ipynb book/$$nb.ipynb || exit 1; done
	$(PY) tools/ship_results.py

# For instructors: the autograded assignments (otter-grader), one per session of the course plan, in
# _build/assignments/<name>/: student/<name>.ipynb (solutions replaced by `...`, public tests only) and
# autograder/ (the reference solution and autograder.zip with every test). Grade a notebook locally with
# `.venv/bin/otter run -a _build/assignments/<name>/autograder/autograder.zip -o OUT_DIR notebook.ipynb`.
assignments: install
	$(PY) tools/assignments.py _build/assignments

# The notebooks' code cells formatted to the HTML column (76 characters, pyproject.toml) and the common setup cell
# (tools/first_cell.py, from _config.yml's repository.url); what ruff leaves long (comments, strings) is shortened by
# hand until the last line passes. NB=book/07_task_weighting.ipynb formats one notebook.
format: install
	$(VENV)/bin/ruff format $(or $(NB),book/*.ipynb)
	$(PY) tools/first_cell.py $(NB)
	$(VENV)/bin/ruff check --select E501 $(or $(NB),book/*.ipynb)

# Colab's install path, offline (tests/colab): a fresh venv with Colab's preinstalled packages, a stand-in
# google.colab, the first cell installing mtl_utils from a git+file:// clone of HEAD; chapters 1 and 12 and the
# closing chapter run there. A few minutes; needs PyPI (torchjd and its solvers), as `make install` does.
colab: install
	$(PY) -m pytest tests/colab
