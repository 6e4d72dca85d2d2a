#!/usr/bin/env bash
# devgate as three processes (register, gateway, echo worker) linked over loopback TCP, with a
# listener on 127.0.0.1:PORT, for bench/compare.sh:  --server-b 'bench/devgate-split.sh {port}'
# DEVGATE_LINKS_TLS=1: the internal links over TLS (see devgate-fleet.sh).
# Runs until killed; kills its children with it.
exec "$(dirname "$0")/devgate-fleet.sh" "$1" 1 "${2:-text}"
