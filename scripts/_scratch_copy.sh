# Sourced by sanitize.sh and valgrind.sh: copy the source tree (without
# build products) to $WORK and cd there, so the instrumented build never
# touches the in-place one.  Needs REPO and WORK set.
echo "== copying the source tree to $WORK"
mkdir -p "$WORK"
tar -C "$REPO" -cf - \
    --exclude=./.git --exclude=./build --exclude='*.so' --exclude=./src/fastinit/_core.c \
    --exclude='__pycache__' --exclude=.pytest_cache --exclude=.hypothesis --exclude=.benchmarks \
    --exclude='./venv*' --exclude='./.venv*' . | tar -C "$WORK" -xf -
cd "$WORK"
