# Two commands do all the set-up: `make demo` and `make test` (see README.md).
CARGO ?= cargo

.PHONY: deps build demo test lint fuzz screenshots

deps:
	./deps.sh

build: deps
	$(CARGO) build --release

demo: build
	./target/release/lookout run pipelines/demo.yaml --summary s.json

test:
	./deps.sh --test
	$(CARGO) test

# The README's pictures of the local page, taken by its browser test into docs/ui/.
screenshots: deps
	UPDATE_SCREENSHOTS=1 $(CARGO) test --test ui_page the_page_shows

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Coverage-guided fuzzing (cargo-fuzz + libFuzzer), each target for FUZZ_SECONDS (default 60).
# Findings are written to fuzz/artifacts/<target>/ and make the run fail.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = pipeline_file onnx_model outbox_records picture event_json
fuzz:
	./fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
