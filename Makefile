# Two entry points for a fresh machine (Debian, Python 3.11, root, no GPU):
#   make repro   install everything, then run the pipeline (`dvc repro`) on the embedded SynthBirds
#   make test    install everything, then run the test suite
# Both are idempotent: the install step is skipped while pyproject.toml is unchanged.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.s2igan-installed
APT_PACKAGES := espeak-ng
PYTEST_ARGS ?=

.PHONY: install sysdeps repro test ui clean-env

install: $(STAMP)

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml | sysdeps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned, so that no other package pulls a different build
	$(BIN)/python -m pip install -q torch==2.9.1 torchvision==0.24.1 torchaudio==2.9.1
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/dvc config core.analytics false
	touch $(STAMP)

repro: install sysdeps
	. $(BIN)/activate && dvc repro

test: install sysdeps
	. $(BIN)/activate && pytest $(PYTEST_ARGS)

ui: install
	. $(BIN)/activate && MLFLOW_DISABLE_TELEMETRY=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
	  mlflow server --host 127.0.0.1 --port 5000 --workers 1 --backend-store-uri sqlite:///mlflow.db

clean-env:
	rm -rf $(VENV)
