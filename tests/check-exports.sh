#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when the shared library exports a symbol without the mongolock_ prefix.
set -euo pipefail
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^$' | sort -u)
[ -n "$syms" ] || { echo "no exported symbols found in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -Ev '^(mongolock_|_init$|_fini$|_edata$|_end$|__bss_start$)' || true)
if [ -n "$bad" ]; then
  echo "symbols exported without the mongolock_ prefix:"; printf '  %s\n' $bad; exit 1
fi
echo "$(printf '%s\n' "$syms" | grep -c '^mongolock_') mongolock_ symbols exported, none without the prefix"
