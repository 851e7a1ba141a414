# Thin wrapper over meson: `make` builds build/taskbox, `make test` runs
# every test tier (see tests/run), `make asan` builds build-asan/.
BUILD ?= build

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

asan: build-asan/build.ninja
	ninja -C build-asan

build-asan/build.ninja:
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false

test:
	bash tests/run

lint:
	bash scripts/lint.sh

clean:
	rm -rf build build-asan

.PHONY: all asan test lint clean
