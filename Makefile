# Two entry points for a fresh machine (Debian, Python 3.11, root, no GPU):
#   make repro   install everything, then run the pipeline (`dvc repro`) on the embedded SynthBirds
#   make test    install everything, then run the test suite
# Both are idempotent: the install step is skipped while pyproject.toml and constraints.txt are
# unchanged. The exact versions installed are in constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.s2igan-installed
APT_PACKAGES := espeak-ng chromium   # chromium: the test that opens the offline `dvc plots show` page
# free disk the install needs: torch's CUDA build from PyPI is about 7 GB in the venv
INSTALL_FREE_GB ?= 9
PIP := $(BIN)/python -m pip install -q --no-cache-dir -c constraints.txt
PYTEST_ARGS ?=
# two pytest workers, one test file each (the end-to-end files hold a module-scoped workspace);
# the tests spend much of their time starting stage processes, so two overlap well on 2 cores
PYTEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: install sysdeps repro test ui clean-env

install: $(STAMP)

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml constraints.txt | sysdeps
	@# a new venv: say plainly when the disk cannot hold it (pip's own message is an OSError)
	@if [ ! -x $(BIN)/python ]; then \
	  free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
	  if [ "$$free" -lt $(INSTALL_FREE_GB) ]; then \
	    echo "make: a new .venv needs about $(INSTALL_FREE_GB) GB of free disk (torch alone is ~7 GB);" \
	         "$$(pwd) has $$free GB free (INSTALL_FREE_GB=0 skips this check)" >&2; \
	    exit 1; \
	  fi; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install -q --no-cache-dir --upgrade pip
	# torch first, at the versions of constraints.txt, so that no other package pulls another build
	$(PIP) torch torchvision torchaudio
	$(PIP) -e '.[dev]'
	$(BIN)/dvc config core.analytics false
	touch $(STAMP)

repro: install sysdeps
	. $(BIN)/activate && dvc repro

test: install sysdeps
	. $(BIN)/activate && pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

ui: install
	. $(BIN)/activate && MLFLOW_DISABLE_TELEMETRY=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
	  mlflow server --host 127.0.0.1 --port 5000 --workers 1 --backend-store-uri sqlite:///mlflow.db

clean-env:
	rm -rf $(VENV)
