package io.nemu.shim.cli.install;

/** An installation step that cannot be done; the message says why and what to do. Nothing of that step was changed. */
public final class InstallException extends Exception {
    public InstallException(String message) {
        super(message);
    }
}
