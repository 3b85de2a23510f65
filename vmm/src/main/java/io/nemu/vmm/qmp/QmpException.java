package io.nemu.vmm.qmp;

import io.nemu.vmm.VmException;

/** A QMP command failed ({@link #errorClass()} is QEMU's error class) or the connection broke. */
public final class QmpException extends VmException {
    private final String errorClass;

    public QmpException(String message, String errorClass) {
        super(message);
        this.errorClass = errorClass;
    }

    public QmpException(String message, Throwable cause) {
        super(message, cause);
        this.errorClass = null;
    }

    /** QEMU's error class (e.g. {@code GenericError}, {@code CommandNotFound}); null if not from QEMU. */
    public String errorClass() {
        return errorClass;
    }
}
