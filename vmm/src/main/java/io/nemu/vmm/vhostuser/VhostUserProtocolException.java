package io.nemu.vmm.vhostuser;

/** The frontend broke the vhost-user protocol; the device ends. */
public final class VhostUserProtocolException extends RuntimeException {
    public VhostUserProtocolException(String message) {
        super(message);
    }
}
