# Two commands do all the set-up: `make demo` and `make test` (see README.md).
CARGO ?= cargo

.PHONY: deps build demo test lint

deps:
	./deps.sh

build: deps
	$(CARGO) build --release

demo: build
	./target/release/lookout run pipelines/demo.yaml --summary s.json

test: deps
	$(CARGO) test

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
