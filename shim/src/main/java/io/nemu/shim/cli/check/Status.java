package io.nemu.shim.cli.check;

/** A requirement's outcome. FAIL: sandboxes cannot run (exit status 1); WARN: they run, at a cost that is stated. */
public enum Status {
    PASS, WARN, FAIL
}
