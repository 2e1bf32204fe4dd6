PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test check test-chaos lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable install with the model (embed) and test tools (dev); redone when pyproject changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,embed]"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/vecfleet serve

# Style, types (mypy --strict, configured in pyproject) and the layering of DESIGN §8
# (import-linter contracts in pyproject) fail the run before any test does.
test: $(STAMP) check
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy vecfleet
	$(BIN)/lint-imports

# Node kills, frozen nodes and NATS restarts under traffic: about three minutes.
test-chaos: $(STAMP)
	$(BIN)/python -m pytest -q -m chaos tests/cluster

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/engine.py --corpus packages

clean:
	rm -rf $(VENV) build *.egg-info

# Regenerate the node's gRPC code; -I. makes the generated imports package-absolute
# (from vecfleet.transport.proto import vecfleet_pb2).
.PHONY: proto
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
		vecfleet/transport/proto/vecfleet.proto

# Generate d-vecDB's gRPC code (for serve --dvecdb-grpc-port) from its proto, read from a git
# mirror or clone of github.com/Infinidatum-LLC/d-vecDB at DVECDB_REV. d-vecDB's licence
# restricts commercial use and redistribution, so neither its proto nor code generated from
# it is kept in this repository (.gitignore): every build generates it.
DVECDB_REV ?= 29c9f79
DVECDB_PROTO_DIR = build/dvecdb-proto/vecfleet/dvecdb_grpc
.PHONY: dvecdb-proto
dvecdb-proto: $(STAMP)
	@test -n "$(DVECDB_GIT)" || { echo "usage: make dvecdb-proto DVECDB_GIT=<d-vecDB git dir or clone>"; exit 2; }
	mkdir -p $(DVECDB_PROTO_DIR)
	if [ -d "$(DVECDB_GIT)/.git" ]; then g="git -C $(DVECDB_GIT)"; else g="git --git-dir=$(DVECDB_GIT)"; fi; \
		$$g show $(DVECDB_REV):proto/proto/vectordb.proto > $(DVECDB_PROTO_DIR)/vectordb.proto
	$(BIN)/python -m grpc_tools.protoc -Ibuild/dvecdb-proto --python_out=. --pyi_out=. \
		--grpc_python_out=. $(DVECDB_PROTO_DIR)/vectordb.proto
