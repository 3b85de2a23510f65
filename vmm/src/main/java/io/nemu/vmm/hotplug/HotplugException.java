package io.nemu.vmm.hotplug;

/** A hotplug request QEMU refused, or that did not complete in time; the message says which and why. */
public final class HotplugException extends Exception {
    public HotplugException(String message) {
        super(message);
    }

    public HotplugException(String message, Throwable cause) {
        super(message, cause);
    }
}
