# SPDX-License-Identifier: Apache-2.0
# Sourced by tests/run-live.sh and ./run: reads the test server's "READY <port>" line.
# mltest_ready_port FILE prints the port of the first complete "READY <port>" line of FILE,
# or nothing. A line is complete once its newline is written: the file is read while the
# server writes it, and a last line without its newline may be cut short ("READY 4" of
# "READY 45678"); `read` reports such a line as end of file, so it is never taken.
mltest_ready_port() {
  local line
  while IFS= read -r line; do
    if [[ $line =~ ^READY\ ([0-9]+)$ ]]; then
      printf '%s\n' "${BASH_REMATCH[1]}"
      return 0
    fi
  done < "$1"
  return 0
}
