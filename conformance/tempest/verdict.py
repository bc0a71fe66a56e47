#!/usr/bin/python3
"""Judges a Tempest run against the list of known failures in docs/compatibility.md.

Reads the run's subunit v2 stream on stdin, prints one line per failure and a summary
("P passed, F failed, S skipped"), and exits 1 when a test failed that the list does not name,
when a listed test passed (the list must then shrink), or when any response body failed one of
Tempest's schemas (listed or not: vpmu's bodies must always be exact). The list is the table under the heading
"Tempest tests that fail for now": its first column is a test id in backquotes.

    stestr last --subunit | verdict.py docs/compatibility.md [--write-failures FILE]
"""
import re
import sys

import subunit
import testtools

HEADING = "## Tempest tests that fail for now"


def known_failures(doc_path):
    """The test ids listed in the document's table, each with its issue column."""
    text = open(doc_path, encoding="utf-8").read()
    if HEADING not in text:
        sys.exit(f"{doc_path} has no '{HEADING}' section")
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    listed = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`([^`]+)`\s*\|\s*([^|]*)\|", line)
        if match:
            listed[match.group(1)] = match.group(2).strip()
    return listed


def base_id(test_id):
    """A test id without Tempest's attributes: `a.b.C.test_x[id-…,smoke]` -> `a.b.C.test_x`."""
    return test_id.split("[", 1)[0]


# What Tempest's rest client raises when a response body does not match its schema.
SCHEMA_FAILURES = ("InvalidHTTPResponseBody", "jsonschema.exceptions.ValidationError")


def outcomes(stream):
    """{test id: (status, details)} for every test of a subunit v2 stream (setUpClass failures
    included); details is the text of its traceback and reason attachments."""
    collected = {}
    details = {}

    class Collect(testtools.StreamResult):
        def status(self, test_id=None, test_status=None, file_name=None, file_bytes=None, **_):
            if test_id and file_bytes and file_name in ("traceback", "reason"):
                details[test_id] = details.get(test_id, "") + file_bytes.decode("utf-8", "replace")
            if test_id and test_status in ("success", "fail", "skip", "xfail", "uxsuccess"):
                collected[base_id(test_id)] = (test_status, details.get(test_id, ""))

    case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
    result = Collect()
    result.startTestRun()
    case.run(result)
    result.stopTestRun()
    return collected


def main():
    args = sys.argv[1:]
    write_to = None
    if "--write-failures" in args:
        i = args.index("--write-failures")
        write_to = args[i + 1]
        del args[i : i + 2]
    listed = known_failures(args[0])
    results = outcomes(sys.stdin.buffer)
    passed = sorted(t for t, (s, _) in results.items() if s in ("success", "xfail"))
    failed = sorted(t for t, (s, _) in results.items() if s in ("fail", "uxsuccess"))
    skipped = sorted(t for t, (s, _) in results.items() if s == "skip")
    unexpected = [t for t in failed if t not in listed]
    stale = [t for t in passed if t in listed]
    schema = [t for t in failed if any(m in results[t][1] for m in SCHEMA_FAILURES)]
    for t in failed:
        print(f"FAIL {t}" + ("" if t in listed else "   <- not on the list"))
    for t in schema:
        print(f"SCHEMA {t}   <- a response body failed Tempest's schema")
    for t in unexpected:
        # The end of the traceback says why: CI's log is all there is to read after a run.
        tail = results[t][1].strip().splitlines()[-25:]
        print(f"--- why {t} failed:")
        print("\n".join(f"    {line}" for line in tail) or "    (no traceback recorded)")
    for t in stale:
        print(f"PASS {t}   <- on the list of failures: remove it from {args[0]}")
    print(f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
    if write_to:
        with open(write_to, "w", encoding="utf-8") as out:
            out.writelines(f"{t}\n" for t in failed)
    if not results:
        print("no test ran", file=sys.stderr)
        return 1
    if unexpected or stale or schema:
        print(
            f"{len(unexpected)} failures are not on the list; {len(stale)} listed tests pass; "
            f"{len(schema)} failed a response schema"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
