#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (needs root; idempotent); see install-deps.sh.
exec bash "$(dirname "$0")/install-deps.sh" --tests
