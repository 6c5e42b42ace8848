#!/usr/bin/env bash
# System packages the integration tests use (Debian): a PostgreSQL server, which the Optuna
# multi-worker test starts on loopback itself, Chromium, which the nnictl test runs headless
# to read NNI's web UI, openssh-server, whose sshd binary the remote-training-service test runs
# on a loopback port with a config of its own (the system's ssh service is not started or
# configured), and Fashion-MNIST (dataset-fashion-mnist), the data of the search-quality
# ground truth and benchmark. Called by `make test`, `make bench-quality` and `make ground-truth`.
# Without apt-get or root it says so and exits 0: the tests that need the packages then skip
# with that reason.
set -u
pkgs="postgresql chromium openssh-server dataset-fashion-mnist"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-system-deps: no apt-get; not installing: $pkgs (their tests will skip)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-test-system-deps: not root; not installing: $pkgs (their tests will skip)"
  exit 0
fi
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-test-system-deps: already installed: $pkgs"
  exit 0
fi
echo "install-test-system-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; }; then
  echo "install-test-system-deps: could not install$missing (their tests will skip)"
fi
exit 0
