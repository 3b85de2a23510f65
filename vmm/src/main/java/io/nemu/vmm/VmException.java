package io.nemu.vmm;

/** A VM could not be configured, started or driven. The message says what and why. */
public class VmException extends RuntimeException {
    public VmException(String message) {
        super(message);
    }

    public VmException(String message, Throwable cause) {
        super(message, cause);
    }
}
