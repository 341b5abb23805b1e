#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The pure parts include nothing of the edges: policy/ (yaml-cpp only) and daemon/core (the
# policy library only) never include sdbus-c++, libsystemd, an adapter, the D-Bus glue or the
# daemon's wiring. Their include paths already cannot reach the adapters; system headers they
# could, so this check refuses them by name. A test: it fails with the file and line.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -rnE '#[[:space:]]*include[[:space:]]*[<"](sdbus-c\+\+/|systemd/|adapters/|dbus/|daemon\.h|user_block/|spdlog/)' \
  policy daemon/core || true)
if [[ -n $bad ]]; then
  echo "check-layering: the pure core includes an edge:" >&2
  echo "$bad" >&2
  exit 1
fi
# And the core's own includes resolve inside the core (no ../ escapes).
bad=$(grep -rnE '#[[:space:]]*include[[:space:]]*"\.\./' policy daemon/core || true)
if [[ -n $bad ]]; then
  echo "check-layering: an include escapes its directory:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-layering: policy/ and daemon/core include no edge"
